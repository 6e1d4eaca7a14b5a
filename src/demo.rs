//! `pavilion demo`: a community with two estates, buildings, units, codes and
//! one account for each role, so a newcomer can try every page at once.

use crate::accounts::{tokens, Accounts};
use crate::domain::*;
use crate::store::Store;

pub const DEMO_PASSWORD: &str = "pavilion-demo";
pub const COMMUNITY: &str = "幸福社区";

const STAFF: [(&str, &str, Role); 5] = [
    ("admin", "管理员", Role::Admin),
    ("secretary", "王书记", Role::Secretary),
    ("moderator", "李审核", Role::Moderator),
    ("staff", "物业小陈", Role::Staff),
    ("observer", "监督员老周", Role::Observer),
];

const ESTATES: [(&str, &[&str]); 2] = [
    ("阳光花园", &["1号楼", "2号楼", "3号楼"]),
    ("翠竹苑", &["1栋", "2栋"]),
];

/// Seeds the demo community unless it is already there.
pub async fn seed(store: &dyn Store, accounts: &Accounts) -> anyhow::Result<()> {
    if store
        .list_communities()
        .await?
        .iter()
        .any(|c| c.name == COMMUNITY)
    {
        tracing::info!("demo community already seeded");
        return Ok(());
    }
    let actor = Actor {
        id: None,
        name: "demo".into(),
    };
    let community = store
        .create_community(
            &actor,
            &PlaceName::parse(COMMUNITY)?,
            &CommunityCode::parse("XF")?,
        )
        .await?;
    let units: Vec<UnitLabel> = (1..=6)
        .flat_map(|floor| (1..=2).map(move |n| format!("{floor}0{n}")))
        .map(|label| UnitLabel::parse(&label))
        .collect::<Result<_, _>>()?;
    let mut first_building = None;
    let mut first_estate = None;
    for (estate_name, buildings) in ESTATES {
        let estate = store
            .create_estate(&actor, community.id, &PlaceName::parse(estate_name)?)
            .await?;
        first_estate.get_or_insert(estate.id);
        for name in buildings {
            let building = store
                .create_building(&actor, estate.id, &PlaceName::parse(name)?)
                .await?;
            store.add_units(&actor, building.id, &units).await?;
            store
                .issue_missing_codes(&actor, building.id, &mut tokens::registration_code)
                .await?;
            first_building.get_or_insert(building.id);
        }
    }
    let password = Password::parse(DEMO_PASSWORD.into())?;
    let hash = accounts.hash(&password).await?;
    for (username, display_name, role) in STAFF {
        let new = NewAccount {
            username: Username::parse(username)?,
            display_name: DisplayName::parse(display_name)?,
            password_hash: hash.clone(),
            role,
            community_id: (role != Role::Admin).then_some(community.id),
            // The observer watches over the first estate's records.
            estate_id: (role == Role::Observer).then_some(first_estate).flatten(),
            unit_id: None,
        };
        store.create_account(&actor, new).await?;
    }
    // One resident, registered the way residents register: with the household code.
    let building = first_building.expect("demo has buildings");
    let codes = store.codes_for_building(building).await?;
    let code = codes
        .iter()
        .find_map(|(_, c)| c.clone())
        .expect("codes were issued");
    let resident = store
        .register_resident(
            &code.code,
            Username::parse("resident")?,
            DisplayName::parse("1号楼老张")?,
            hash,
        )
        .await?;
    seed_records(store, &resident).await?;
    seed_notices(store, community.id).await?;
    tracing::info!("demo community seeded");
    Ok(())
}

/// Notices for the lobby screens, as the property office would write them,
/// published by the secretary.
async fn seed_notices(store: &dyn Store, community: CommunityId) -> anyhow::Result<()> {
    use crate::domain::notice::{
        DayPart, NoticeCategory, NoticeDraft, NoticeState, Validity, Weekdays,
    };
    use crate::store::NoticeTransition;
    let secretary = store
        .credentials(&Username::parse("secretary")?)
        .await?
        .map(|(account, _)| account)
        .ok_or_else(|| anyhow::anyhow!("the demo secretary is missing"))?;
    let actor = Actor {
        id: Some(secretary.id),
        name: secretary.username.clone(),
    };
    let now = chrono::Utc::now();
    let daytime = DayPart::new(
        Weekdays::EVERY_DAY,
        chrono::NaiveTime::from_hms_opt(7, 0, 0).expect("a time"),
        chrono::NaiveTime::from_hms_opt(21, 0, 0).expect("a time"),
    )?;
    let notices = [
        (
            NoticeCategory::Disclosure,
            "阳光三务：10月物业收支公示",
            "本月物业费收缴率 **92%**，明细如下：\n\n| 项目 | 收入（元） | 支出（元） |\n|---|---:|---:|\n| 物业服务费 | 186,400 | |\n| 停车管理费 | 42,800 | |\n| 保洁绿化 | | 61,200 |\n| 电梯维保 | | 18,600 |\n| 公共照明 | | 9,350 |\n\n有疑问请扫码留言，或参加本月联席会议。",
            7,
            vec![],
            None,
        ),
        (
            NoticeCategory::Outage,
            "停水通知：3号楼周六上午检修水泵",
            "因二次供水水泵检修，**本周六 9:00–12:00** 3号楼停水。\n\n请提前储水，给您带来不便敬请谅解。\n\n咨询电话：物业服务中心 8801 2345",
            8,
            vec![],
            Some(now + chrono::Duration::days(7)),
        ),
        (
            NoticeCategory::Event,
            "重阳节敬老活动报名",
            "社区将于周日上午在活动中心举办重阳节敬老茶话会，并提供义诊、理发服务。\n\n- 报名：居委会一楼\n- 名额：60 人\n- 志愿者同步招募中",
            5,
            vec![daytime],
            None,
        ),
        (
            NoticeCategory::PriceList,
            "物业服务收费标准",
            "| 服务 | 收费标准 |\n|---|---|\n| 物业服务费（住宅） | 1.2 元/㎡·月 |\n| 地面停车 | 150 元/月 |\n| 装修垃圾清运 | 300 元/户 |\n\n以上标准经业主大会表决通过，依法公示。",
            4,
            vec![],
            None,
        ),
        (
            NoticeCategory::BroadcastSchedule,
            "书记直播间 每周三晚 19:30",
            "王书记在线解答大家关心的停车、垃圾分类、加装电梯等问题。\n\n扫右侧二维码进入社区议事厅，提前提问、点赞。",
            6,
            vec![],
            None,
        ),
    ];
    for (category, title, body, priority, day_parts, ends_at) in notices {
        let draft = NoticeDraft::new(
            community,
            title,
            body,
            category,
            false,
            Validity::new(now - chrono::Duration::hours(1), ends_at)?,
            day_parts,
            vec![],
            15,
            priority,
            vec![],
            None,
        )?;
        let notice = store
            .create_notice(&actor, secretary.id, &draft, NoticeState::Draft)
            .await?;
        store
            .transition_notice(
                &actor,
                notice.id,
                &NoticeTransition {
                    from: &[NoticeState::Draft],
                    to: NoticeState::Published,
                    revision: Some(notice.revision),
                    reason: None,
                    action: "notice.publish",
                },
            )
            .await?;
    }
    Ok(())
}

/// Two records from the demo resident: one just filed, one already resolved.
async fn seed_records(store: &dyn Store, resident: &Account) -> anyhow::Result<()> {
    use crate::domain::record::{RecordClass, RecordSource, RecordState};
    use crate::store::NewRecordEvent;
    use chrono::{Datelike, Duration, Utc};

    let now = Utc::now();
    let estate_id = resident.estate_id.expect("residents live in an estate");
    let actor = Actor {
        id: Some(resident.id),
        name: resident.display_name.clone(),
    };
    let new =
        |title: &str, category: &str, class, minutes_ago: i64| crate::domain::record::NewRecord {
            estate_id,
            building_id: None,
            category: category.into(),
            class,
            title: title.into(),
            // Filed through the resident form, which says the title is public.
            title_public: true,
            description: title.into(),
            location: String::new(),
            source: RecordSource::Web,
            reporter_id: Some(resident.id),
            tracking_hash: tokens::fingerprint(&tokens::random_token()),
            filed_year: (now - Duration::minutes(minutes_ago)).year(),
            point: None,
        };
    store
        .create_record(
            &actor,
            &new("1号楼楼道灯不亮", "repairs", RecordClass::General, 10),
            now - Duration::minutes(10),
        )
        .await?;
    let filed = now - Duration::hours(3);
    let record = store
        .create_record(
            &actor,
            &new("小区东门垃圾桶满了", "rubbish", RecordClass::General, 180),
            filed,
        )
        .await?;
    let staff = Actor {
        id: None,
        name: "物业小陈".into(),
    };
    for (version, minutes, from, to, action) in [
        (
            1,
            5,
            RecordState::Submitted,
            RecordState::Accepted,
            "accept",
        ),
        (
            2,
            25,
            RecordState::Accepted,
            RecordState::Resolved,
            "resolve",
        ),
    ] {
        let event = NewRecordEvent {
            actor: staff.clone(),
            action: action.into(),
            from_state: Some(from),
            to_state: Some(to),
            note: String::new(),
            public: true,
            published: false,
            assignee: None,
            rating: None,
        };
        store
            .append_record_event(
                record.id,
                version,
                &event,
                filed + Duration::minutes(minutes),
            )
            .await?;
    }
    Ok(())
}

pub fn print_accounts(public_url: &str) {
    println!("\n  演示社区 Demo community: {COMMUNITY} — {public_url}");
    println!("  账号 / accounts (密码 password: {DEMO_PASSWORD}):");
    for (username, display_name, role) in STAFF {
        println!("    {username:<10} {display_name} ({})", role.as_str());
    }
    println!("    {:<10} 1号楼老张 (resident)", "resident");
    println!("  楼道电子屏 Lobby screen: {}/kiosk/ — 用 admin 登录，在“工作台 → 电子屏”输入屏幕上的配对码", public_url.trim_end_matches('/'));
    println!("                      open it in a browser, then pair it in Console → Screens with the code it shows");
    println!("  演示密码是公开的，请勿用于正式部署 / demo passwords are public: never use them in production\n");
}

/// The demo's broadcast: the newest demo broadcast that has not ended, or a
/// new one (each run of the demo after a stop leaves the last one as a replay).
pub async fn live_broadcast(store: &dyn Store) -> anyhow::Result<broadcast::Broadcast> {
    use crate::store::BroadcastFilter;
    let Some(community) = store
        .list_communities()
        .await?
        .into_iter()
        .find(|c| c.name == COMMUNITY)
    else {
        anyhow::bail!("the demo community is missing");
    };
    let filter = BroadcastFilter {
        community: Some(community.id),
        states: vec![
            broadcast::BroadcastState::Scheduled,
            broadcast::BroadcastState::Live,
            broadcast::BroadcastState::Reconnecting,
        ],
        limit: 1,
        ..Default::default()
    };
    if let Some(existing) = store.list_broadcasts(&filter).await?.into_iter().next() {
        return Ok(existing);
    }
    let secretary = store
        .credentials(&Username::parse("secretary")?)
        .await?
        .map(|(account, _)| account)
        .ok_or_else(|| anyhow::anyhow!("the demo secretary is missing"))?;
    let details = broadcast::BroadcastDetails::new(
        community.id,
        "书记直播间：垃圾分类新规答疑",
        "演示直播：画面是测试图案和时钟，声音是测试音。\n在“工作台 → 直播”里可以看到推流地址和推流码，用 OBS 推流即可替换它。",
        chrono::Utc::now(),
        Vec::new(),
        broadcast::Renditions {
            low: false,
            audio_only: true,
        },
    )
    .map_err(|(field, e)| anyhow::anyhow!("demo broadcast {field}: {e}"))?;
    let actor = Actor {
        id: None,
        name: "demo".into(),
    };
    let broadcast = store
        .create_broadcast(&actor, secretary.id, &details, &tokens::stream_key())
        .await?;
    // Questions are a nicety: the demo runs without them.
    if let Err(e) = seed_questions(store, &broadcast).await {
        tracing::warn!(error = %e, "demo questions not seeded");
    }
    Ok(broadcast)
}

/// Residents' questions on the demo broadcast, as a newcomer would find them
/// mid-broadcast: three approved questions with votes, a chat message, and
/// one question waiting in the moderation queue (its phone number masked).
/// Two neighbours of the demo resident are registered to ask and vote.
pub async fn seed_questions(
    store: &dyn Store,
    broadcast: &broadcast::Broadcast,
) -> anyhow::Result<()> {
    use crate::chat::{filter, names};
    use crate::domain::chat::{CommentKind, CommentState, HoldReason};
    use crate::store::NewComment;

    let (resident, hash) = store
        .credentials(&Username::parse("resident")?)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo resident is missing"))?;
    let estate = resident
        .estate_id
        .ok_or_else(|| anyhow::anyhow!("the demo resident has no estate"))?;
    let buildings = store.list_buildings(estate).await?;
    let mut people = vec![resident];
    for ((username, nickname), building) in
        [("neighbour1", "爱心妈妈"), ("neighbour2", "遛弯的王阿姨")]
            .into_iter()
            .zip(buildings.iter().cycle().skip(1))
    {
        let account = match store.credentials(&Username::parse(username)?).await? {
            Some((account, _)) => account,
            None => {
                let code = store
                    .codes_for_building(building.id)
                    .await?
                    .into_iter()
                    .find_map(|(_, code)| code)
                    .ok_or_else(|| anyhow::anyhow!("no registration code in {}", building.name))?;
                store
                    .register_resident(
                        &code.code,
                        Username::parse(username)?,
                        DisplayName::parse(nickname)?,
                        hash.clone(),
                    )
                    .await?
            }
        };
        people.push(account);
    }
    anyhow::ensure!(people.len() == 3, "the demo estate has no buildings");
    let moderator = store
        .credentials(&Username::parse("moderator")?)
        .await?
        .map(|(account, _)| account)
        .ok_or_else(|| anyhow::anyhow!("the demo moderator is missing"))?;
    let ids: Vec<AccountId> = people.iter().map(|p| p.id).collect();
    let authors = store.chat_authors(&ids).await?;
    let now = chrono::Utc::now();
    /// Who asks what; voters index `people`, past its end the moderator.
    struct DemoPost {
        author: usize,
        kind: CommentKind,
        anonymous: bool,
        text: &'static str,
        state: CommentState,
        voters: &'static [usize],
    }
    let question = |author, anonymous, text, state, voters| DemoPost {
        author,
        kind: CommentKind::Question,
        anonymous,
        text,
        state,
        voters,
    };
    let posts = [
        question(
            1,
            false,
            "小区东门的电动车充电桩什么时候能装好？晚上充电总排不上队。",
            CommentState::Approved,
            &[0, 2, 3],
        ),
        question(
            0,
            false,
            "垃圾分类新规实施以后，厨余垃圾能不能每天多清运一次？夏天味道太大了。",
            CommentState::Approved,
            &[1, 2],
        ),
        question(
            2,
            true,
            "加装电梯的费用怎么分摊？低楼层的住户也要出钱吗？",
            CommentState::Approved,
            &[0],
        ),
        DemoPost {
            kind: CommentKind::Chat,
            ..question(
                0,
                false,
                "书记好！今晚来看直播的邻居真多 👍",
                CommentState::Approved,
                &[],
            )
        },
        question(
            1,
            false,
            "物业费的收支明细能不能每月公示一次？有问题可以打我电话13812345678",
            CommentState::Held,
            &[],
        ),
    ];
    for (index, post) in posts.into_iter().enumerate() {
        let DemoPost {
            author,
            kind,
            anonymous,
            text,
            state,
            voters,
        } = post;
        let who = &people[author];
        let Some(facts) = authors.iter().find(|a| a.id == who.id) else {
            continue;
        };
        let masked = filter::mask_personal_data(text);
        let mut hold_reasons = Vec::new();
        if masked.changed() {
            hold_reasons.push(HoldReason::PersonalData);
        }
        if state == CommentState::Held {
            hold_reasons.insert(0, HoldReason::Review);
        }
        let posted = store
            .post_comment(&NewComment {
                broadcast_id: broadcast.id,
                community_id: broadcast.community_id,
                author_id: who.id,
                client_id: format!("demo-{index}"),
                kind,
                public_name: names::for_author(facts, anonymous),
                anonymous,
                body: masked.text.clone(),
                original_body: masked.changed().then(|| text.to_owned()),
                dup_key: filter::duplicate_key(text),
                hold_reasons,
                state,
                at: now - chrono::Duration::minutes(10 - index as i64),
                slow_mode: None,
            })
            .await?;
        for &voter in voters {
            let voter = if voter < people.len() {
                people[voter].id
            } else {
                moderator.id
            };
            store.vote(voter, posted.comment.id, true, now).await?;
        }
    }
    Ok(())
}
