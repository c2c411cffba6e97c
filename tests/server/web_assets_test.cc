// The web page's files served from the binary (src/server/web, embedded at build time).
#include "server/web_assets.h"

#include <gtest/gtest.h>

#include <string>

namespace qwenvl::server {
namespace {

TEST(WebAssets, RootIsThePage) {
  WebAsset asset;
  ASSERT_TRUE(FindWebAsset("/", asset));
  EXPECT_EQ(asset.content_type, "text/html; charset=utf-8");
  EXPECT_NE(asset.body.find("<title>qwenvl</title>"), std::string_view::npos);
}

TEST(WebAssets, FaviconIcoIsTheSvgIcon) {
  WebAsset svg;
  WebAsset ico;
  ASSERT_TRUE(FindWebAsset("/favicon.svg", svg));
  ASSERT_TRUE(FindWebAsset("/favicon.ico", ico));
  EXPECT_EQ(ico.content_type, "image/svg+xml");
  EXPECT_EQ(ico.body, svg.body);
  EXPECT_TRUE(ico.body.starts_with("<svg"));
}

// The markdown libraries are embedded together or not at all (QWENVL_WEB_MARKDOWN).
TEST(WebAssets, MarkdownLibrariesComeAsAPair) {
  WebAsset marked;
  WebAsset purify;
  const bool has_marked = FindWebAsset("/marked.min.js", marked);
  EXPECT_EQ(has_marked, FindWebAsset("/purify.min.js", purify));
  if (has_marked) {
    EXPECT_EQ(marked.content_type, "text/javascript; charset=utf-8");
    EXPECT_NE(marked.body.find("marked"), std::string_view::npos);
    EXPECT_NE(purify.body.find("DOMPurify"), std::string_view::npos);
    EXPECT_EQ(purify.body.find("sourceMappingURL"), std::string_view::npos);
  }
}

TEST(WebAssets, UnknownAndTraversalPathsAreNotFound) {
  WebAsset asset;
  for (const char* path : {"/nope.js", "/../index.html", "/web/app.js", "//app.js", "/favicon.icox",
                           "/index.html/", ""}) {
    EXPECT_FALSE(FindWebAsset(path, asset)) << path;
  }
}

}  // namespace
}  // namespace qwenvl::server
