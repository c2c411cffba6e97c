#!/usr/bin/env python3
"""Drives `qwenvl chat` in a pseudo-terminal as a person would: type, recall the history with the
up arrow, attach a picture by a quoted or escaped path, stop a long answer with Ctrl-C and go on,
type a multi-line message, save, Ctrl-D; then start again and find the history of the first run.

    chat_pty_test.py QWENVL_BINARY DEMO_MODEL_DIR DEMO_SCENE_PNG
"""
import json
import os
import re
import shutil
import sys
import tempfile

import pexpect

PROMPT = ">>> "


def main():
    binary, model, scene = sys.argv[1:4]
    home = tempfile.mkdtemp(prefix="qwenvl_chat_pty_")
    try:
        run(binary, model, scene, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("chat_pty_test: ok")


def spawn(binary, model, home):
    env = dict(os.environ, HOME=home, XDG_STATE_HOME=os.path.join(home, "state"), TERM="xterm")
    env.pop("QWENVL_KERNELS", None)
    child = pexpect.spawn(binary, ["chat", "-m", model, "--threads", "2"], env=env,
                          encoding="utf-8", codec_errors="replace", timeout=90,
                          dimensions=(50, 400))
    child.logfile_read = open(os.path.join(home, "transcript.log"), "a", encoding="utf-8")
    child.expect_exact(PROMPT)
    return child


def command(child, line, expected):
    child.sendline(line)
    child.expect(expected)
    child.expect_exact(PROMPT)


def run(binary, model, scene, home):
    pictures = os.path.join(home, "my pics")
    os.makedirs(pictures)
    shutil.copy(scene, os.path.join(pictures, "scene one.png"))

    child = spawn(binary, model, home)
    command(child, "/set max_tokens 12", r"\(set\)")
    # UTF-8 typed in, whatever the locale (LANG is unset in CI).
    command(child, "/system Réponds brièvement ✓", r"system prompt set")
    # A path with a space, escaped as a terminal writes a dragged-in file, under ~.
    command(child, r"/image ~/my\ pics/scene\ one.png", r"scene one\.png attached")
    command(child, "How many shapes are there?", r"There (are \d+ shapes|is 1 shape)")
    # The up arrow recalls the question; the same picture is still in the conversation.
    child.send("\x1b[A")
    child.expect_exact("How many shapes are there?")
    child.sendline("")
    child.expect_exact(PROMPT)
    first = os.path.join(home, "first.json")
    command(child, "/save %s" % first, r"4 messages saved")
    with open(first, encoding="utf-8") as f:
        doc = json.load(f)
    asked = [m["content"] for m in doc["messages"] if m["role"] == "user"]
    assert asked == ["How many shapes are there?"] * 2, asked
    assert doc["system"] == "Réponds brièvement ✓", doc["system"]
    assert doc["messages"][0]["images"] == [os.path.join(pictures, "scene one.png")], doc
    # Quoted, and a missing file: an error, and the conversation goes on.
    command(child, "/image '%s'" % os.path.join(pictures, "scene one.png"), r"attached")
    command(child, "/image '/nonexistent/x y.png'", r"no such file")
    command(child, "/frobnicate", r"unknown command /frobnicate")

    # Ctrl-C at the prompt drops the typed text: "/help" alone follows.
    child.send("half a line")
    child.sendintr()
    child.expect_exact(PROMPT)
    command(child, "/help", r"Ctrl-C stops an answer")

    # A long answer (random tokens from the whole vocabulary: no end of turn in sight) stopped.
    command(child, "/reset", r"conversation cleared")
    command(child, "/set temperature 100", r"\(set\)")
    command(child, "/set seed 7", r"\(set\)")
    command(child, "/set max_tokens 16000", r"\(set\)")
    child.sendline("Talk for a long time.")
    child.expect(r"Talk for a long time\.\r\n")
    child.expect(r"\S")  # the answer has begun
    child.sendintr()
    child.expect(r"stopped; your message stays in the conversation")
    child.expect_exact(PROMPT)

    # The conversation continues: a multi-line question is answered.
    command(child, "/set temperature default", r"\(set\)")
    command(child, "/set max_tokens 12", r"\(set\)")
    child.sendline('"""What color')
    child.expect_exact("... ")
    child.sendline('is the circle?"""')
    child.expect(r"\S+")
    child.expect_exact(PROMPT)
    saved = os.path.join(home, "saved chat.json")
    command(child, "/save '%s'" % saved, r"3 messages saved")
    with open(saved, encoding="utf-8") as f:
        doc = json.load(f)
    roles = [m["role"] for m in doc["messages"]]
    assert roles == ["user", "user", "assistant"], roles
    assert doc["messages"][0]["content"] == "Talk for a long time.", doc["messages"][0]
    assert doc["messages"][1]["content"] == "What color\nis the circle?", doc["messages"][1]
    assert doc["messages"][2]["content"].strip(), doc["messages"][2]
    # A broken file is refused and the conversation stays as it was.
    broken = os.path.join(home, "broken.json")
    with open(broken, "w", encoding="utf-8") as f:
        f.write('{"format": "qwenvl-chat", "version": 1, "messages": [{"role": "robot"')
    command(child, "/load %s" % broken, r"not valid JSON \(the conversation is unchanged\)")
    command(child, "/load '%s'" % saved, r"3 messages loaded")

    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus)

    history = os.path.join(home, "state", "qwenvl", "chat_history")
    with open(history, encoding="utf-8") as f:
        # libedit writes its history with vis(3) escapes: \040 for a space.
        text = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), f.read())
    assert "\nHow many shapes are there?\n" in text, text
    assert oct(os.stat(history).st_mode & 0o777) == "0o600", oct(os.stat(history).st_mode)

    # A second run finds the first run's history; Ctrl-C twice at an empty prompt leaves.
    child = spawn(binary, model, home)
    child.send("\x1b[A")
    child.expect_exact("/load '%s'" % saved)
    child.sendintr()
    child.expect_exact(PROMPT)
    child.sendintr()
    child.expect(r"Ctrl-C again or Ctrl-D to leave")
    child.expect_exact(PROMPT)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus)


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, pexpect.ExceptionPexpect) as e:
        print("chat_pty_test: FAILED:", e, file=sys.stderr)
        sys.exit(1)
