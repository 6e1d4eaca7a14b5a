//! Live Q&A raced from two nodes: event numbers stay gapless, a comment is
//! decided once, a client's retry posts once and a resident votes once.

use chrono::Utc;
use futures_util::future::join_all;

use super::broadcasts::{scheduled, staff_actor, stage, Stage};
use super::on_two_nodes;
use crate::domain::chat::{Comment, CommentKind, CommentState};
use crate::domain::*;
use crate::store::{
    AccountStore, BroadcastStore, ChatStore, DirectoryStore, Moderation, NewComment, StoreError,
};

on_two_nodes!(
    comments_posted_on_two_nodes_get_gapless_event_numbers,
    two_moderators_deciding_one_comment_give_one_decision,
    a_retried_post_is_stored_once_whichever_node_takes_it,
    a_resident_voting_on_two_nodes_counts_once,
    slow_mode_holds_for_posts_sent_at_once_through_two_nodes,
);

fn comment(
    stage: &Stage,
    broadcast: BroadcastId,
    author: &Account,
    client_id: &str,
    state: CommentState,
) -> NewComment {
    NewComment {
        broadcast_id: broadcast,
        community_id: stage.community.id,
        author_id: author.id,
        client_id: client_id.into(),
        kind: CommentKind::Question,
        public_name: author.display_name.clone(),
        anonymous: false,
        body: format!("电梯什么时候修好？({client_id})"),
        original_body: None,
        dup_key: client_id.into(),
        hold_reasons: Vec::new(),
        state,
        at: Utc::now(),
        slow_mode: None,
    }
}

async fn posted<S: ChatStore>(store: &S, new: &NewComment) -> Comment {
    store.post_comment(new).await.unwrap().comment
}

async fn comments_posted_on_two_nodes_get_gapless_event_numbers<
    S: DirectoryStore + AccountStore + BroadcastStore + ChatStore,
>(
    a: &S,
    b: &S,
) {
    let stage = stage(a, "CHA", 6).await;
    let broadcast = scheduled(a, &stage, "key-chat-seq").await.id;
    let news: Vec<NewComment> = (0..30)
        .map(|n| {
            let author = &stage.residents[n % stage.residents.len()];
            comment(
                &stage,
                broadcast,
                author,
                &format!("c{n}"),
                CommentState::Approved,
            )
        })
        .collect();
    let results = join_all(news.iter().enumerate().map(|(n, new)| async move {
        if n % 2 == 0 {
            a.post_comment(new).await
        } else {
            b.post_comment(new).await
        }
    }))
    .await;
    let mut posted_seqs: Vec<i64> = results
        .into_iter()
        .flat_map(|r| r.unwrap().events)
        .map(|e| e.seq)
        .collect();
    posted_seqs.sort_unstable();
    let events = b.chat_events_after(broadcast, 0, 1000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert!(!seqs.is_empty());
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    assert_eq!(posted_seqs, seqs, "every event was reported by its poster");
}

async fn two_moderators_deciding_one_comment_give_one_decision<
    S: DirectoryStore + AccountStore + BroadcastStore + ChatStore,
>(
    a: &S,
    b: &S,
) {
    let stage = stage(a, "CHB", 2).await;
    let broadcast = scheduled(a, &stage, "key-chat-mod").await.id;
    let moderator = staff_actor(&stage.secretary);
    for round in 0..5 {
        let held = posted(
            a,
            &comment(
                &stage,
                broadcast,
                &stage.residents[0],
                &format!("held{round}"),
                CommentState::Held,
            ),
        )
        .await;
        let reject = Moderation::Reject {
            reason: Some("重复"),
        };
        let (approved, rejected) = tokio::join!(
            a.moderate_comment(&moderator, held.id, Moderation::Approve, Utc::now()),
            b.moderate_comment(&moderator, held.id, reject, Utc::now()),
        );
        let outcomes = [approved.is_ok(), rejected.is_ok()];
        assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{outcomes:?}");
        for loser in [&approved, &rejected].into_iter().filter(|r| r.is_err()) {
            assert!(matches!(loser, Err(StoreError::Conflict)), "{loser:?}");
        }
        let state = a.comment(held.id).await.unwrap().state;
        let expected = if approved.is_ok() {
            CommentState::Approved
        } else {
            CommentState::Rejected
        };
        assert_eq!(state, expected);
    }
}

async fn a_retried_post_is_stored_once_whichever_node_takes_it<
    S: DirectoryStore + AccountStore + BroadcastStore + ChatStore,
>(
    a: &S,
    b: &S,
) {
    let stage = stage(a, "CHC", 1).await;
    let broadcast = scheduled(a, &stage, "key-chat-retry").await.id;
    let new = comment(
        &stage,
        broadcast,
        &stage.residents[0],
        "retry-1",
        CommentState::Approved,
    );
    // A phone on flaky Wi-Fi sends the same comment to both nodes at once.
    let results = join_all((0..6).map(|n| {
        let new = &new;
        async move {
            if n % 2 == 0 {
                a.post_comment(new).await
            } else {
                b.post_comment(new).await
            }
        }
    }))
    .await;
    let posts: Vec<_> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(posts.iter().filter(|p| p.created).count(), 1);
    let id = posts[0].comment.id;
    assert!(posts.iter().all(|p| p.comment.id == id));
    let stored = b
        .comment_by_client_id(stage.residents[0].id, broadcast, "retry-1")
        .await
        .unwrap();
    assert_eq!(stored.map(|c| c.id), Some(id));
}

async fn a_resident_voting_on_two_nodes_counts_once<
    S: DirectoryStore + AccountStore + BroadcastStore + ChatStore,
>(
    a: &S,
    b: &S,
) {
    let stage = stage(a, "CHD", 4).await;
    let broadcast = scheduled(a, &stage, "key-chat-vote").await.id;
    let question = posted(
        a,
        &comment(
            &stage,
            broadcast,
            &stage.residents[0],
            "q1",
            CommentState::Approved,
        ),
    )
    .await;
    let voters = &stage.residents[1..];
    let results = join_all(voters.iter().flat_map(|voter| {
        [
            a.vote(voter.id, question.id, true, Utc::now()),
            b.vote(voter.id, question.id, true, Utc::now()),
        ]
    }))
    .await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(
        a.comment(question.id).await.unwrap().votes,
        voters.len() as i64
    );
    for voter in voters {
        assert_eq!(
            b.votes_of(voter.id, broadcast).await.unwrap(),
            vec![question.id]
        );
    }
    assert!(matches!(
        a.vote(stage.residents[0].id, question.id, true, Utc::now())
            .await,
        Err(StoreError::Rejected(_))
    ));
}

async fn slow_mode_holds_for_posts_sent_at_once_through_two_nodes<
    S: DirectoryStore + AccountStore + BroadcastStore + ChatStore,
>(
    a: &S,
    b: &S,
) {
    let stage = stage(a, "CHS", 1).await;
    let broadcast = scheduled(a, &stage, "key-chat-slow").await.id;
    let resident = &stage.residents[0];
    let slowed = |client_id: &str| NewComment {
        slow_mode: Some(std::time::Duration::from_secs(30)),
        ..comment(
            &stage,
            broadcast,
            resident,
            client_id,
            CommentState::Approved,
        )
    };
    for round in 0..5 {
        let (first, second) = (slowed(&format!("a{round}")), slowed(&format!("b{round}")));
        let (on_a, on_b) = tokio::join!(a.post_comment(&first), b.post_comment(&second));
        let outcomes = [on_a.is_ok(), on_b.is_ok()];
        let passed = outcomes.iter().filter(|ok| **ok).count();
        let expected = if round == 0 { 1 } else { 0 };
        assert_eq!(passed, expected, "round {round}: {outcomes:?}");
        for refused in [&on_a, &on_b].into_iter().filter(|r| r.is_err()) {
            match refused {
                Err(StoreError::TooSoon(wait)) => {
                    assert!(*wait <= std::time::Duration::from_secs(30), "{wait:?}")
                }
                other => panic!("expected TooSoon, got {other:?}"),
            }
        }
    }
    // Nothing refused was stored; a retry of the stored one is no new post.
    let mine = a
        .comments(&crate::store::CommentFilter {
            author: Some(resident.id),
            ..crate::store::CommentFilter::of(broadcast)
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    let retry = slowed(&mine[0].client_id);
    let again = b.post_comment(&retry).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.comment.id, mine[0].id);
    // Without slow mode the same resident posts at once.
    let free = comment(&stage, broadcast, resident, "free", CommentState::Approved);
    assert!(a.post_comment(&free).await.unwrap().created);
}
