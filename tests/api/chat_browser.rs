//! Live Q&A in real headless Chromium: a resident asks on the watch page and
//! sees "待审核"; a moderator approves; the resident and an anonymous viewer
//! see it appear without a reload; the secretary presses "现在回答" on the
//! answering console and the resident's page shows the banner.

use std::time::Duration;

use fantoccini::{Client, Locator};
use pavilion::domain::Role;
use serde_json::{json, Value};

use crate::browser::{browser, log_in};
use crate::helpers::*;

/// Types a message of `kind` ("chat" or "question") into the compose box and sends it.
async fn send(page: &Client, kind: &str, text: &str) {
    page.find(Locator::Css(&format!("input[name=kind][value={kind}]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.find(Locator::Id("chat-text"))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
    page.find(Locator::Css("[data-compose] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Polls `script` until `done` accepts its value; panics with the last one.
async fn wait_for(page: &Client, script: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let value = page.execute(script, vec![]).await.unwrap();
        if done(&value) {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            let state = page.execute(DIAGNOSIS, vec![]).await.unwrap();
            panic!("{what}: still {value}; the page: {state}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The comments pane as text, one entry per line.
const COMMENTS: &str = "return Array.from(document.querySelectorAll('[data-comments] li')).map(li => li.innerText.replace(/\\n/g, ' ')).join('\\n');";
const QUESTIONS: &str = "return Array.from(document.querySelectorAll('[data-questions] li')).map(li => li.innerText.replace(/\\n/g, ' ')).join('\\n');";
const BANNER: &str =
    "const b = document.querySelector('[data-answering]'); return b.hidden ? '' : b.innerText;";
/// What the page's socket and chat hold, for failure messages.
const DIAGNOSIS: &str = "const root = document.querySelector('[data-chat]'); const s = root && window.pavilionLiveSocket ? window.pavilionLiveSocket(root.dataset.broadcast) : null; return { open: s && s.isOpen(), lastSeq: s && s.lastSeq, received: s && s.received, handlers: s && Object.keys(s.handlers).map(k => k + ':' + s.handlers[k].length), chat: window.pavilionChat && window.pavilionChat.state(), errors: window.pageErrors || [] };";
const SNAPSHOT_IN: &str =
    "return !!window.pavilionChat && window.pavilionChat.state().snapshots > 0;";

async fn axe_violations(page: &Client) -> Vec<Value> {
    let axe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/node_modules/axe-core/axe.min.js"
    ))
    .expect("axe-core is installed by ./dev test (npm ci)");
    page.execute(&axe, vec![]).await.unwrap();
    let result = page
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
                  .then(r => done(r.violations.map(v => ({ id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')) }))))
                  .catch(e => done([{ id: 'axe-error', help: String(e) }]));"#,
            vec![],
        )
        .await
        .unwrap();
    result.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_question_is_asked_approved_seen_by_all_and_answered_live() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Default::default())
        .await;
    let resident = app.add_resident(&place, "laozhang", "3号楼老张").await;
    app.add_staff(Role::Moderator, "shenhe", Some(place.community.id))
        .await;
    let moderator = app.browser_of("shenhe").await;
    let watch = format!("/live/{}", broadcast.id);

    let (_driver_a, asker) = browser().await;
    let (_driver_b, viewer) = browser().await;
    log_in(&asker, &app, "laozhang", "/me").await;
    asker.goto(&app.url(&watch)).await.unwrap();
    viewer.goto(&app.url(&watch)).await.unwrap();
    for page in [&asker, &viewer] {
        wait_for(page, SNAPSHOT_IN, "the snapshot", |v| v == &json!(true)).await;
        // A mark a reload would wipe out.
        page.execute("window.notReloaded = true;", vec![])
            .await
            .unwrap();
    }
    // Watching needs no account: the visitor is asked to log in to take part.
    let prompt = viewer.find(Locator::Css(".login-prompt a")).await.unwrap();
    assert_eq!(
        prompt.attr("href").await.unwrap().as_deref(),
        Some(&*format!("/login?next=%2Flive%2F{}", broadcast.id))
    );

    // The resident asks a question.
    send(&asker, "question", "小区东门的路灯什么时候修？").await;
    let held = wait_for(&asker, COMMENTS, "the held question", |v| {
        v.as_str()
            .is_some_and(|t| t.contains("路灯") && t.contains("待审核"))
    })
    .await;
    assert!(held.as_str().unwrap().contains("3号楼老张"), "{held}");
    assert_eq!(
        asker
            .execute("return document.getElementById('chat-text').value;", vec![])
            .await
            .unwrap(),
        json!(""),
        "the box is emptied once the server has the question"
    );
    // Nobody else sees it yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(viewer.execute(COMMENTS, vec![]).await.unwrap(), json!(""));

    // A moderator approves it (over HTTP, as their page's form does).
    let question = app
        .state
        .chat
        .my_comments(&resident, broadcast.id)
        .await
        .unwrap()
        .remove(0);
    let response = app
        .post_form(
            &moderator.http,
            &format!("/console/broadcasts/{}/moderate", broadcast.id),
            &[("comment", &question.id.to_string()), ("action", "approve")],
        )
        .await;
    assert_eq!(response.status(), 303);

    // Both pages show it without a reload; the author's is no longer held
    // and is marked as theirs in the questions tab.
    for (page, who) in [(&viewer, "the anonymous viewer"), (&asker, "the resident")] {
        wait_for(page, COMMENTS, who, |v| {
            v.as_str()
                .is_some_and(|t| t.contains("路灯") && !t.contains("待审核"))
        })
        .await;
        let questions = page.execute(QUESTIONS, vec![]).await.unwrap();
        assert!(
            questions.as_str().unwrap().contains("路灯"),
            "{who}: {questions}"
        );
        assert_eq!(
            page.execute("return window.notReloaded === true;", vec![])
                .await
                .unwrap(),
            json!(true),
            "{who}'s page reloaded"
        );
    }
    let mine = asker.execute(QUESTIONS, vec![]).await.unwrap();
    assert!(mine.as_str().unwrap().contains("我的提问"), "{mine}");
    // Visitors without an account see the count, but no button to vote with.
    let theirs = viewer
        .execute(
            "return [document.querySelector('[data-questions] .vote-count').textContent, document.querySelectorAll('[data-vote]').length];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(theirs, json!(["0 人赞同", 0]));

    // Markup in a comment is shown as text, never run.
    send(
        &asker,
        "chat",
        "<img src=x onerror=\"window.pwned=1\"><b>看得见吗</b>",
    )
    .await;
    wait_for(&viewer, COMMENTS, "the comment with markup", |v| {
        v.as_str().is_some_and(|t| t.contains("<b>看得见吗</b>"))
    })
    .await;
    assert_eq!(
        viewer
            .execute(
                "return [window.pwned === undefined, document.querySelectorAll('[data-comments] img, [data-comments] b').length];",
                vec![]
            )
            .await
            .unwrap(),
        json!([true, 0])
    );

    let violations = axe_violations(&asker).await;
    assert!(
        violations.is_empty(),
        "watch page with chat: {violations:#?}"
    );

    // The secretary, on the answering console, presses "现在回答".
    log_in(&viewer, &app, "secretary", "/console").await;
    viewer
        .goto(&app.url(&format!("/console/broadcasts/{}/answer", broadcast.id)))
        .await
        .unwrap();
    let violations = axe_violations(&viewer).await;
    assert!(violations.is_empty(), "answering console: {violations:#?}");
    viewer
        .find(Locator::Css(&format!(
            "[data-answer-now='{}']",
            question.id
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The console shows it as the one being answered…
    wait_for(
        &viewer,
        "const s = document.querySelector('.answer-now'); const e = document.getElementById('form-error'); return s ? s.innerText : (e ? 'error: ' + e.innerText : '');",
        "the console's current question",
        |v| v.as_str().is_some_and(|t| t.contains("路灯")),
    )
    .await;
    // …and the resident's page the banner, without a reload.
    let banner = wait_for(&asker, BANNER, "the answering banner", |v| {
        v.as_str().is_some_and(|t| t.contains("路灯"))
    })
    .await;
    assert!(banner.as_str().unwrap().contains("正在回答"), "{banner}");

    // The moderation page passes the accessibility checks too.
    viewer
        .goto(&app.url(&format!("/console/broadcasts/{}/moderate", broadcast.id)))
        .await
        .unwrap();
    let violations = axe_violations(&viewer).await;
    assert!(violations.is_empty(), "moderation page: {violations:#?}");
    asker.close().await.unwrap();
    viewer.close().await.unwrap();
}
