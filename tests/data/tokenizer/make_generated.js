// Makes generated.json: made-up texts (long mixed-script documents, whitespace runs, code, NFC
// candidates, added tokens in odd places, seeded random strings) with the ids and decoded text of the
// reference, HF tokenizers (npm package "tokenizers", the Rust library's Node binding).
//   npm install tokenizers@0.23.2 && node make_generated.js ../qwen2.5-vl-3b-instruct/tokenizer.json
const { Tokenizer } = require('tokenizers');
const fs = require('fs');

const texts = [
  // A mixed-script document.
  'Qwen2.5-VL is a vision-language model. 通义千问是阿里巴巴开发的大语言模型，支持多种语言。\n' +
    'これは日本語の文章です。カタカナとひらがな、そして漢字。한국어 문장도 있습니다.\n' +
    'Русский текст: съешь же ещё этих мягких французских булок. Ελληνικά: γειά σου κόσμε.\n' +
    'العربية: مرحبا بالعالم. עברית: שלום עולם. हिन्दी: नमस्ते दुनिया। ภาษาไทย: สวัสดีชาวโลก\n' +
    'Math: ∀x∈ℝ, x²≥0; ∑_{i=1}^{n} i = n(n+1)/2; e^{iπ}+1=0. Emoji: 👩‍💻🧑🏿‍🚀👨‍👩‍👧‍👦 #️⃣ 🏳️‍🌈\n',
  // Whitespace runs of every kind, and at the ends.
  '  a  b   c\t\t\td\n\n \n  \r\n\r\n  x   ',
  '\n\n\n\n    \t  \n\t\tindent\n        deeper\n',
  'nbsp\u00a0\u00a0here ideographic\u3000\u3000space line\u2028sep para\u2029sep',
  '\r\r\n\r \r\n \n\r',
  ' '.repeat(37) + 'x' + '\t'.repeat(9) + 'y' + '\n'.repeat(11),
  'trailing tab\t',
  // Code.
  '#include <vector>\nint main() {\n  std::vector<int> v{1, 2, 3};\n  for (auto& x : v) x *= 2;\n' +
    '  return v.size() == 3 ? 0 : 1;  // done\n}\n',
  'def fib(n: int) -> int:\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n' +
    '    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nprint([fib(i) for i in range(10)])\n',
  '{"name": "qwenvl", "version": [0, 1, 0], "nested": {"ok": true, "pi": 3.14159e+00}}',
  '<html><body class="x"><p>Hello &amp; welcome!</p><br/></body></html>',
  'SELECT id, name FROM users WHERE age >= 18 AND name LIKE \'%son\' ORDER BY id DESC;',
  'x = a[i++] + b[--j] -> c; y = p->q ?: r; z <<= 2; w >>>= 1; s = "tab\\tnew\\n";',
  // Contractions and case.
  "'s 'S 'Ll 'LL 'tis don't DON'T I'M we'RE they'Ve ''s 's's 'd",
  "rock'n'roll o'clock ma'am y'all'd've",
  // Numbers in many scripts.
  '1234567890 ١٢٣٤٥ ۱۲۳ १२३ 一二三 ①②③ ½¾ Ⅻ 0x1F 1e-9 -0.5 +7',
  // Added tokens in odd places.
  'x<|im_start|>y<|im_end|>z',
  '<|im_start|><|im_start|><|endoftext|>',
  '<|im_start <|im_end| <||> |im_start|> < |im_start|>',
  'word<|endoftext|>word <tool_call>{"a":1}</tool_call> <|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>',
  '<|vision_start|><|video_pad|><|vision_end|><|box_start|>(1,2)<|box_end|><|quad_start|><|quad_end|>',
  '<|repo_name|>r<|file_sep|>f.py\n<|fim_pad|>',
  // NFC candidates: combining sequences that compose, singletons, Hangul jamo.
  'e\u0301 A\u030a o\u0308 n\u0303 \u212b \u2126 \u1100\u1161\u11a8 \u0041\u0300\u0301 q\u0307\u0323',
  'Cafe\u0301 nai\u0308ve re\u0301sume\u0301',
  // Long words and repeated punctuation.
  'a'.repeat(300) + ' ' + 'ab'.repeat(200) + ' ' + 'xyz'.repeat(77),
  '!!!???...---===+++***///\\\\\\|||~~~```',
  '...... .... ,,,, ;;;; :::: ---- ____',
  'https://example.com/a/b/c?x=1&y=2#frag mailto:someone@example.org ftp://1.2.3.4:21/',
  'supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis',
  // Emoji sequences.
  '👍🏻👍🏼👍🏽👍🏾👍🏿 🇺🇸🇫🇷🇩🇪🇨🇳 1️⃣2️⃣ ❤️‍🔥 🫠🫡🥹 😶‍🌫️',
  // Control and invisible characters.
  '\u0001\u0002\u001f\u007f ctrl \u200b\u200c\u200d\ufeff invisible \u00ad soft',
  // Other scripts.
  'ქართული ენა Հայերեն Ǽ ǅ ﬃ ﬆ Ꙃ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 𐍈 𓀀 ꧁꧂',
  'Tiếng Việt có dấu: Trường Đại học Bách khoa Hà Nội',
  'ཀུན་མཁྱེན། ᠮᠣᠩᠭᠣᠯ ᎣᏏᏲ ᐊᐃᐅ ⴰⵣⵓⵍ',
];

// Seeded random strings over a palette that stresses the regex: letters of several scripts, digits,
// punctuation, every kind of whitespace, combining marks, emoji and apostrophe contractions.
const palette = [
  'a', 'b', 'Z', 'é', 'ß', 'и', 'Ж', 'α', '中', '文', 'の', 'カ', '한', 'ก', 'ع', 'ह', '0', '7', '٣', '½',
  '.', ',', '!', '?', '-', '_', '(', ')', '"', "'", "'s", "'LL", '#', '@', '/', '\\', '…', '—', '·',
  ' ', ' ', ' ', '  ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u3000', '\u2003', '\u0301', '\u0308',
  '😀', '👍🏽', '🇯🇵', '‍', '️', '<|im_start|>', '<|endoftext|>', '<tool_call>', 'the', ' the', 'ing',
];
let seed = 20261126;
function random(n) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
}
for (let i = 0; i < 160; ++i) {
  const length = 1 + random(i < 120 ? 24 : 200);
  let s = '';
  for (let k = 0; k < length; ++k) s += palette[random(palette.length)];
  texts.push(s);
}

(async () => {
  const tokenizer = Tokenizer.fromFile(process.argv[2]);
  const cases = [];
  for (const text of texts) {
    const encoding = await tokenizer.encode(text, undefined, { addSpecialTokens: false });
    const ids = Array.from(encoding.getIds());
    const decoded = await tokenizer.decode(ids, false);
    cases.push({ text, ids, decoded });
  }
  const note = 'made by make_generated.js with HF tokenizers (npm tokenizers 0.23.2); ' +
    'encoded without added special tokens, decoded without skipping special tokens';
  fs.writeFileSync('generated.json', JSON.stringify({ note, cases }, null, 0) + '\n');
  console.log(`generated.json: ${cases.length} cases`);
})();
