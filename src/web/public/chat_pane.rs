//! The watch page's side pane: live, the comments, questions and compose box
//! that `chat.js` fills from the socket; after the broadcast, the approved
//! comments and the replay's chapters (answered questions), rendered here.

use maud::{html, Markup, PreEscaped};

use crate::domain::broadcast::Broadcast;
use crate::domain::chat::{Chapter, CommentKind, PublicComment, QuestionStatus};
use crate::web::context::Ctx;
use crate::web::forms::encode_component;
use crate::web::layout::form_token;

/// Words `chat.js` needs, by its short names.
const SCRIPT_LABELS: &[&str] = &[
    "held",
    "rejected",
    "hidden",
    "question",
    "reject_reason",
    "new_messages",
    "answering",
    "answered",
    "written_answer",
    "votes",
    "own_question",
    "vote",
    "voted",
    "send_failed",
    "closed",
    "slow_mode_wait",
    "sending",
    "empty",
    "question_held",
    "chat_held",
    "cannot_post",
    "anonymous_name",
];

/// The labels as JSON inside a `<script type="application/json">`: no `<`
/// can close the element early.
fn labels_json(ctx: &Ctx) -> String {
    let labels: serde_json::Map<String, serde_json::Value> = SCRIPT_LABELS
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                serde_json::Value::String(ctx.t(&format!("chat_ui.js.{name}")).into_owned()),
            )
        })
        .collect();
    serde_json::Value::Object(labels)
        .to_string()
        .replace('<', "\\u003c")
}

/// The live pane. Empty until the socket's snapshot arrives.
pub fn live(ctx: &Ctx, broadcast: &Broadcast) -> Markup {
    let here = format!("/live/{}", broadcast.id);
    html! {
        section id="chat" class="chat" data-chat data-live="true" data-broadcast=(broadcast.id)
            data-csrf=(ctx.form_token()) data-signed-in=(ctx.viewer.is_some())
            aria-labelledby="chat-title"
        {
            h2 id="chat-title" { (ctx.t("chat_ui.title")) }
            div class="answering-banner" data-answering hidden role="status" {
                span class="badge live" { (ctx.t("chat_ui.answering_now")) }
                p data-answering-text {}
                span class="muted" data-answering-name {}
            }
            div class="chat-tabs" role="tablist" aria-label=(ctx.t("chat_ui.title")) {
                button type="button" role="tab" id="tab-comments" aria-controls="chat-comments" aria-selected="true" {
                    (ctx.t("chat_ui.comments"))
                }
                button type="button" role="tab" id="tab-questions" aria-controls="chat-questions" aria-selected="false" tabindex="-1" {
                    (ctx.t("chat_ui.questions")) " " span data-question-count {}
                }
            }
            div id="chat-comments" role="tabpanel" aria-labelledby="tab-comments" {
                div class="comments-box" data-comments-box role="log" tabindex="0" aria-label=(ctx.t("chat_ui.comments")) {
                    p class="muted" data-empty-comments { (ctx.t("chat_ui.no_comments")) }
                    ol class="comment-list" data-comments {}
                    button type="button" class="new-messages" data-new-messages hidden { (ctx.t("chat_ui.new_messages")) }
                }
            }
            div id="chat-questions" role="tabpanel" aria-labelledby="tab-questions" hidden {
                div class="sort-choice" role="group" aria-label=(ctx.t("chat_ui.sort")) {
                    span { (ctx.t("chat_ui.sort")) }
                    button type="button" class="secondary" data-sort="votes" aria-pressed="true" { (ctx.t("chat_ui.sort_votes")) }
                    button type="button" class="secondary" data-sort="time" aria-pressed="false" { (ctx.t("chat_ui.sort_time")) }
                }
                @if ctx.viewer.is_none() {
                    p class="hint" { (ctx.t("chat_ui.js.login_to_vote")) }
                }
                p class="muted" data-empty-questions { (ctx.t("chat_ui.no_questions")) }
                ol class="question-list" data-questions {}
            }
            p class="connection-note" data-connection hidden role="status" { (ctx.t("chat_ui.reconnecting")) }
            @if ctx.viewer.is_some() {
                form class="compose" data-compose method="post" action={(here) "/comments"} {
                    (form_token(ctx))
                    label for="chat-text" { (ctx.t("chat_ui.say_something")) }
                    textarea id="chat-text" name="text" rows="3" maxlength="500" required {}
                    fieldset class="compose-kind" {
                        legend { (ctx.t("chat_ui.send_as")) }
                        label class="check" {
                            input type="radio" name="kind" value="chat" checked;
                            (ctx.t("chat_ui.kind.chat"))
                        }
                        label class="check" {
                            input type="radio" name="kind" value="question";
                            (ctx.t("chat_ui.kind.question"))
                        }
                    }
                    div class="compose-row" {
                        label class="check" {
                            input type="checkbox" name="anonymous" value="true";
                            (ctx.t("chat_ui.anonymous"))
                        }
                        button type="submit" { (ctx.t("chat_ui.send")) }
                    }
                    p class="compose-note" data-compose-note aria-live="polite" {}
                }
            } @else {
                p class="login-prompt" {
                    (ctx.t("chat_ui.watch_freely")) " "
                    a href={"/login?next=" (encode_component(&here))} { (ctx.t("chat_ui.log_in")) }
                    (ctx.t("chat_ui.to_take_part"))
                }
            }
            script type="application/json" id="chat-labels" { (PreEscaped(labels_json(ctx))) }
        }
    }
}

/// "1:02:03" or "2:03".
pub fn offset_label(offset_ms: i64) -> String {
    let seconds = offset_ms.max(0) / 1000;
    if seconds >= 3600 {
        format!(
            "{}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    } else {
        format!("{}:{:02}", seconds / 60, seconds % 60)
    }
}

/// Where a chapter starts, as the `#t=` of its link.
pub fn chapter_seconds(offset_ms: i64) -> i64 {
    offset_ms.max(0) / 1000
}

/// A comment's public name in the reader's language.
pub fn public_name(ctx: &Ctx, comment: &PublicComment) -> String {
    if comment.anonymous {
        ctx.t("chat_ui.js.anonymous_name").into_owned()
    } else {
        comment.name.clone()
    }
}

/// After the broadcast: its chapters and the approved comments, as text.
pub fn replay(ctx: &Ctx, comments: &[PublicComment], chapters: &[Chapter]) -> Markup {
    html! {
        section id="chat" class="chat" data-chat data-live="false" aria-labelledby="chat-title" {
            @if !chapters.is_empty() {
                h2 id="chapters-title" { (ctx.t("chat_ui.chapters")) }
                p class="hint" { (ctx.t("chat_ui.chapters_hint")) }
                ol class="chapters" aria-labelledby="chapters-title" {
                    @for chapter in chapters {
                        @let seconds = chapter_seconds(chapter.offset_ms);
                        li {
                            a href={"#t=" (seconds)} data-chapter=(seconds) {
                                span class="chapter-time" { (offset_label(chapter.offset_ms)) }
                                (chapter.question)
                            }
                            @if let Some(answer) = &chapter.answer {
                                p class="question-answer" { (ctx.lang.tf("chat_ui.js.written_answer", &[("answer", answer)])) }
                            }
                        }
                    }
                }
            }
            h2 id="chat-title" { (ctx.t("chat_ui.replay_comments")) }
            @if comments.is_empty() {
                p class="muted" { (ctx.t("chat_ui.no_comments")) }
            } @else {
                div class="comments-box" role="log" tabindex="0" aria-label=(ctx.t("chat_ui.comments")) {
                    ol class="comment-list" {
                        @for c in comments {
                            li class="comment" {
                                p class="comment-head" {
                                    span class="comment-name" { (public_name(ctx, c)) }
                                    @if c.kind == CommentKind::Question {
                                        span class="badge" { (ctx.t("chat_ui.js.question")) }
                                        @if c.status == QuestionStatus::Answered {
                                            span class="badge ok" { (ctx.t("chat_ui.js.answered")) }
                                        }
                                    }
                                    time class="muted" datetime=(c.at.to_rfc3339()) {
                                        (ctx.local_time(c.at))
                                    }
                                }
                                p class="comment-body" { (c.body) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_like_a_player_clock() {
        assert_eq!(offset_label(0), "0:00");
        assert_eq!(offset_label(61_500), "1:01");
        assert_eq!(offset_label(3_723_000), "1:02:03");
        assert_eq!(offset_label(-5), "0:00");
        assert_eq!(chapter_seconds(61_999), 61);
    }
}
