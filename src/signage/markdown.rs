//! Notice bodies: Markdown rendered to HTML, then sanitised.
//!
//! Staff write Markdown; raw HTML inside it is allowed by CommonMark, so the
//! rendered HTML is untrusted and goes through an allow-list before it reaches
//! a screen or a page. Tables stay, because 阳光三务 disclosures are income and
//! spending tables.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};
use pulldown_cmark::{html, Alignment, CowStr, Event, Options, Parser, Tag, TagEnd};

/// Pictures may only come from the screens' own media route, so a screen
/// never fetches from a third party (no tracking pixels, no mixed content
/// offline) and keeps every picture for offline (see kiosk.js).
const IMAGE_PREFIXES: [&str; 1] = ["/kiosk/media/"];

const TAGS: [&str; 31] = [
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Tags in neither list are unwrapped (their text kept); these go with
/// everything inside them.
const DROPPED_WITH_CONTENT: [&str; 7] = [
    "script", "style", "iframe", "object", "embed", "template", "noscript",
];

/// Quotes and lists nest no deeper than this. A notice never needs more, and
/// building a tree thousands of levels deep costs the sanitiser seconds.
const MAX_NESTING: usize = 16;

/// Renders a notice body to HTML that is safe to put in a page as is.
pub fn render(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let events = kiosk_events(Parser::new_ext(markdown, options));
    let mut unsafe_html = String::with_capacity(markdown.len() + markdown.len() / 2);
    html::push_html(&mut unsafe_html, events);
    SANITISER.clean(&unsafe_html).to_string()
}

fn is_kiosk_media(url: &str) -> bool {
    IMAGE_PREFIXES.iter().any(|prefix| url.starts_with(prefix))
        && !url.contains("..")
        && !url.contains('\\')
}

/// Adjusts pulldown-cmark's events before they become HTML: table cells carry
/// their alignment as an `align` attribute rather than the `style` attribute
/// the sanitiser strips; Markdown images from elsewhere are dropped, leaving
/// their alt text as plain text; and quotes and lists deeper than
/// `MAX_NESTING` are flattened into the deepest one kept.
fn kiosk_events<'a>(events: impl Iterator<Item = Event<'a>>) -> impl Iterator<Item = Event<'a>> {
    let mut alignments: Vec<Alignment> = Vec::new();
    let mut in_head = false;
    let mut column = 0;
    // For each image being read, whether it is kept.
    let mut images: Vec<bool> = Vec::new();
    // For each quote, list and list item open, whether it is kept; and how
    // many quotes and lists are kept.
    let mut containers: Vec<bool> = Vec::new();
    let mut depth = 0;
    events.filter_map(move |event| match event {
        Event::Start(Tag::BlockQuote(_) | Tag::List(_)) => {
            let keep = depth < MAX_NESTING;
            depth += usize::from(keep);
            containers.push(keep);
            keep.then_some(event)
        }
        // An item goes with its list.
        Event::Start(Tag::Item) => {
            let keep = containers.last().copied().unwrap_or(true);
            containers.push(keep);
            keep.then_some(event)
        }
        Event::End(TagEnd::BlockQuote(_) | TagEnd::List(_)) => {
            let keep = containers.pop().unwrap_or(true);
            depth -= usize::from(keep);
            keep.then_some(event)
        }
        Event::End(TagEnd::Item) => containers.pop().unwrap_or(true).then_some(event),
        Event::Start(Tag::Table(ref columns)) => {
            alignments.clone_from(columns);
            Some(event)
        }
        Event::Start(Tag::TableHead) => {
            in_head = true;
            column = 0;
            Some(event)
        }
        Event::End(TagEnd::TableHead) => {
            in_head = false;
            Some(event)
        }
        Event::Start(Tag::TableRow) => {
            column = 0;
            Some(event)
        }
        Event::Start(Tag::TableCell) => {
            let tag = if in_head { "th" } else { "td" };
            let align = match alignments.get(column) {
                Some(Alignment::Left) => " align=\"left\"",
                Some(Alignment::Center) => " align=\"center\"",
                Some(Alignment::Right) => " align=\"right\"",
                Some(Alignment::None) | None => "",
            };
            Some(Event::Html(CowStr::from(format!("<{tag}{align}>"))))
        }
        Event::End(TagEnd::TableCell) => {
            column += 1;
            Some(Event::Html(CowStr::Borrowed(if in_head {
                "</th>"
            } else {
                "</td>"
            })))
        }
        Event::Start(Tag::Image { ref dest_url, .. }) => {
            let keep = is_kiosk_media(dest_url);
            images.push(keep);
            keep.then_some(event)
        }
        Event::End(TagEnd::Image) => images.pop().unwrap_or(true).then_some(event),
        _ => Some(event),
    })
}

static SANITISER: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let alignments: HashSet<&str> = ["left", "center", "right"].into();
    let mut builder = Builder::empty();
    builder
        .tags(TAGS.into())
        .clean_content_tags(DROPPED_WITH_CONTENT.into())
        .generic_attributes(HashSet::new())
        .tag_attributes(HashMap::from([
            ("a", ["href", "title"].into()),
            ("img", ["src", "alt", "title"].into()),
            ("ol", ["start"].into()),
            ("th", ["colspan", "rowspan"].into()),
            ("td", ["colspan", "rowspan"].into()),
        ]))
        .tag_attribute_values(HashMap::from([
            ("th", HashMap::from([("align", alignments.clone())])),
            ("td", HashMap::from([("align", alignments)])),
        ]))
        // Schemes compare lower-cased, so `JaVaScRiPt:` is refused like
        // `javascript:`; `data:` is refused too.
        .url_schemes(["http", "https", "mailto", "tel"].into())
        .url_relative(UrlRelative::PassThrough)
        .link_rel(Some("noopener noreferrer"))
        .strip_comments(true)
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            ("img", "src") if !is_kiosk_media(value) => None,
            _ => Some(value.into()),
        });
    builder
});

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_lacks(html: &str, needles: &[&str]) {
        let lower = html.to_ascii_lowercase();
        for needle in needles {
            assert!(!lower.contains(needle), "{needle:?} survived in {html:?}");
        }
        assert_inert(html);
    }

    /// Parses the output the way a browser would and checks that nothing in
    /// it can run code, restyle the page or load from elsewhere.
    fn assert_inert(html: &str) {
        let document = scraper::Html::parse_fragment(html);
        let everything = scraper::Selector::parse("*").unwrap();
        for element in document.select(&everything) {
            let element = element.value();
            let name = element.name();
            assert!(
                name == "html" || TAGS.contains(&name),
                "<{name}> in {html:?}"
            );
            for (attribute, value) in element.attrs() {
                assert!(
                    !attribute.starts_with("on") && attribute != "style",
                    "{attribute} on <{name}> in {html:?}"
                );
                let url = value.trim().to_ascii_lowercase();
                if attribute == "href" {
                    assert!(
                        ["javascript:", "data:", "vbscript:"]
                            .iter()
                            .all(|scheme| !url.starts_with(scheme)),
                        "{value:?} in {html:?}"
                    );
                }
                if attribute == "src" {
                    assert!(is_kiosk_media(value), "{value:?} in {html:?}");
                }
            }
        }
    }

    #[test]
    fn plain_markdown_renders() {
        assert_eq!(
            render("# 停水通知\n\n明天 **8:00–12:00** 停水，~~周三~~周四恢复。"),
            "<h1>停水通知</h1>\n<p>明天 <strong>8:00–12:00</strong> 停水，<del>周三</del>周四恢复。</p>\n"
        );
    }

    #[test]
    fn chinese_text_is_kept_as_is() {
        let text = "各位业主：因二次供水设施检修，3号楼将于周六暂停供水。给您带来不便，敬请谅解！";
        let html = render(text);
        assert!(html.contains(text), "{html}");
        assert_lacks(&html, &["&#"]);
    }

    #[test]
    fn script_goes_with_its_content() {
        let html =
            render("通知<script>alert(1)</script>\n\n<script src=//evil.example/x.js></script>");
        assert_lacks(&html, &["<script", "alert(1)", "evil.example"]);
        let html = render("<SCRIPT>document.cookie</SCRIPT>");
        assert_lacks(&html, &["script", "cookie"]);
    }

    #[test]
    fn event_handler_attributes_are_removed() {
        let html = render("<img src=x onerror=alert(1)>");
        assert_lacks(&html, &["onerror", "alert", "src="]);
        let html = render("<p onclick=\"alert(1)\" onmouseover='alert(2)'>点我</p>");
        assert_lacks(&html, &["onclick", "onmouseover", "alert"]);
        assert!(html.contains("<p>点我</p>"), "{html}");
    }

    #[test]
    fn javascript_links_lose_their_href() {
        let html = render("[a](javascript:alert(1))");
        assert_lacks(&html, &["javascript", "href"]);
        assert!(html.contains(">a</a>"), "{html}");
        let html = render("<a href=\"JaVaScRiPt:alert(1)\">b</a>");
        assert_lacks(&html, &["javascript", "href"]);
        let html = render(
            "<a href=\"java&#x09;script:alert(1)\">c</a> <a href=\" javascript:alert(2)\">d</a>",
        );
        assert_lacks(&html, &["script", "href"]);
        let html = render("[e](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)");
        assert_lacks(&html, &["data:", "href"]);
    }

    #[test]
    fn links_are_kept_with_noopener() {
        let html = render("[物业公告](https://example.org/a?b=1&c=2) [报修](/feedback)");
        assert_eq!(
            html,
            "<p><a href=\"https://example.org/a?b=1&amp;c=2\" rel=\"noopener noreferrer\">物业公告</a> \
             <a href=\"/feedback\" rel=\"noopener noreferrer\">报修</a></p>\n"
        );
        // An author's own rel is replaced, not added to.
        let html = render("<a href=\"https://example.org\" rel=\"opener\" target=\"_top\">x</a>");
        assert_lacks(&html, &["opener\"", "target"]);
        assert!(html.contains("rel=\"noopener noreferrer\""), "{html}");
    }

    #[test]
    fn frames_objects_and_forms_are_removed() {
        let html = render("<iframe src=\"https://evil.example/\">inside</iframe>");
        assert_lacks(&html, &["iframe", "evil.example", "inside"]);
        let html = render("<object data=\"x.swf\"><embed src=\"x.swf\"></object>");
        assert_lacks(&html, &["object", "embed", "x.swf"]);
        let html = render(
            "<form action=\"https://evil.example/\"><input name=pw><button>提交</button></form>",
        );
        assert_lacks(&html, &["<form", "<input", "<button", "evil.example"]);
    }

    #[test]
    fn style_is_removed() {
        let html = render("<p style=\"position:fixed;top:0;background:url(x)\">全屏</p>");
        assert_lacks(&html, &["style", "position", "url("]);
        let html = render("<style>body{display:none}</style>正文");
        assert_lacks(&html, &["style", "display"]);
        assert!(html.contains("正文"));
    }

    #[test]
    fn unterminated_tags_do_no_harm() {
        for input in [
            "<img src=x onerror=\"alert(1)",
            "<a href=\"javascript:alert(1)",
            "文字 <scr<script>ipt>alert(1)</script>",
            "<div <img src=x onerror=alert(1)//",
            "<!-- <script>alert(1)</script>",
            "<table><tr><td onclick=alert(1)>x",
        ] {
            assert_inert(&render(input));
        }
    }

    #[test]
    fn comments_are_stripped() {
        assert_lacks(&render("a <!-- 内部备注 --> b"), &["<!--", "内部备注"]);
    }

    #[test]
    fn a_markdown_table_renders_with_alignment() {
        let html = render(
            "| 项目 | 收入（元） | 备注 |\n| :--- | ---: | :---: |\n| 停车费 | 12,000 | 三月 |\n| 广告位 | 3,500 | |",
        );
        assert!(html.starts_with("<table><thead><tr>"), "{html}");
        for part in [
            "<th align=\"left\">项目</th>",
            "<th align=\"right\">收入（元）</th>",
            "<th align=\"center\">备注</th>",
            "<tbody>",
            "<td align=\"left\">停车费</td>",
            "<td align=\"right\">12,000</td>",
            "<td align=\"center\">三月</td>",
            "</tbody></table>",
        ] {
            assert!(html.contains(part), "{part} missing from {html}");
        }
        assert_lacks(&html, &["style"]);
        let plain = render("| a | b |\n| --- | --- |\n| 1 | 2 |");
        assert!(
            plain.contains("<th>a</th>") && plain.contains("<td>2</td>"),
            "{plain}"
        );
    }

    #[test]
    fn raw_html_tables_keep_only_known_alignments() {
        let html = render("<table><tr><td align=\"right\" colspan=\"2\">1</td><td align=\"javascript:x\">2</td></tr></table>");
        assert!(
            html.contains("<td align=\"right\" colspan=\"2\">1</td>"),
            "{html}"
        );
        assert!(html.contains("<td>2</td>"), "{html}");
    }

    #[test]
    fn images_only_come_from_our_media() {
        let html = render("![停水范围](/kiosk/media/5/image.webp \"范围\")");
        assert_eq!(
            html,
            "<p><img src=\"/kiosk/media/5/image.webp\" alt=\"停水范围\" title=\"范围\"></p>\n"
        );
        assert!(render("<img src=\"/kiosk/media/3/image.jpg\" alt=\"图\">")
            .contains("src=\"/kiosk/media/3/image.jpg\""));

        for input in [
            "![外链](https://evil.example/pixel.png)",
            "![协议相对](//evil.example/pixel.png)",
            "![上级](/kiosk/media/../admin/export.csv)",
            "![没有这条路由](/media/3/a.jpg)",
            "![相对](images/a.png)",
            "<img src=\"https://evil.example/pixel.png\">",
            "<img src=\"data:image/png;base64,iVBORw0KGgo=\">",
            "<img src=\"javascript:alert(1)\">",
        ] {
            let html = render(input);
            assert_lacks(&html, &["src=", "evil.example", "data:", "javascript"]);
        }
        // A dropped Markdown image leaves its alt text.
        assert_eq!(
            render("![外链图片](https://evil.example/p.png)"),
            "<p>外链图片</p>\n"
        );
    }

    #[test]
    fn a_maximum_length_body_renders() {
        let row = "| 保洁服务 | 1,200.00 | 按月支付 |\n";
        let mut body = String::from(
            "# 2026年第三季度收支公示\n\n| 项目 | 金额 | 说明 |\n| --- | ---: | --- |\n",
        );
        while body.chars().count() + row.chars().count() < 19_000 {
            body.push_str(row);
        }
        body.push_str("\n<script>alert(1)</script>\n\n");
        while body.chars().count() < 20_000 {
            body.push_str("公示");
        }
        let body: String = body.chars().take(20_000).collect();
        assert_eq!(body.chars().count(), 20_000);
        let html = render(&body);
        assert!(
            html.contains("<table>") && html.ends_with("公示</p>\n"),
            "{}",
            &html[html.len() - 40..]
        );
        assert_lacks(&html, &["<script", "alert(1)"]);

        // Deep nesting is not a way to stall the renderer.
        let quotes = render(&(">".repeat(20_000) + " 引用"));
        assert!(quotes.contains("<p>引用</p>"), "{quotes}");
        assert_eq!(quotes.matches("<blockquote>").count(), MAX_NESTING);
        assert_eq!(quotes.matches("</blockquote>").count(), MAX_NESTING);
        let lists = render(&("- ".repeat(10_000) + "条目"));
        assert!(lists.contains("条目"), "{lists}");
        assert_eq!(lists.matches("<ul>").count(), MAX_NESTING);
        assert_eq!(
            lists.matches("</li>").count(),
            lists.matches("<li>").count()
        );
        let brackets = "[".repeat(10_000) + &"](x)".repeat(10_000);
        render(&brackets);
    }
}
