# cmake -DNPM=<npm> -DSRC=<src/server/web> -DWORK=<folder> -P fetch_libs.cmake
# Installs the page's libraries pinned in package-lock.json (npm ci, from npm's cache when it has
# them) into WORK and writes the two files the page loads into WORK/assets: marked.min.js (markdown
# to HTML) and purify.min.js (DOMPurify: the HTML sanitised before it reaches the page). Both
# packages ship minified browser builds; only the source-map comment is dropped (the map is not served).
file(MAKE_DIRECTORY "${WORK}/assets")
configure_file("${SRC}/package.json" "${WORK}/package.json" COPYONLY)
configure_file("${SRC}/package-lock.json" "${WORK}/package-lock.json" COPYONLY)
execute_process(
  COMMAND "${NPM}" ci --prefer-offline --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY "${WORK}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR
    "npm ci failed (status ${rc}) fetching the web page's markdown libraries (marked, dompurify; "
    "src/server/web/package.json). Without network, npm's cache must hold them; or configure with "
    "-DQWENVL_WEB_MARKDOWN=OFF to build a page that shows answers as plain text.")
endif()
foreach(pair "marked/lib/marked.umd.js=marked.min.js" "dompurify/dist/purify.min.js=purify.min.js")
  string(REPLACE "=" ";" pair "${pair}")
  list(GET pair 0 from)
  list(GET pair 1 to)
  file(READ "${WORK}/node_modules/${from}" text)
  string(REGEX REPLACE "\n//# sourceMappingURL=[^\n]*\n?$" "\n" text "${text}")
  file(WRITE "${WORK}/assets/${to}.tmp" "${text}")
  file(COPY_FILE "${WORK}/assets/${to}.tmp" "${WORK}/assets/${to}" ONLY_IF_DIFFERENT)
  file(REMOVE "${WORK}/assets/${to}.tmp")
endforeach()
