//! What the lobby-screen benchmarks share: the real application on port 0
//! with a temporary data directory, a community of 4 estates × 5 buildings
//! with 2 screen groups and an admin, paired screens, and notice texts of
//! the lengths staff write (a fee disclosure table, a price list, prose).
//!
//! Included by the bench targets with `#[path]`; not a bench of its own.
//! Each bench uses a part of it.
#![allow(dead_code)]

use chrono::{NaiveTime, Utc};
use pavilion::accounts::tokens;
use pavilion::domain::screen::{Orientation, Screen};
use pavilion::domain::*;
use pavilion::settings::Settings;
use pavilion::startup::Application;
use pavilion::store::{PairingStatus, ScreenSetup};
use pavilion::web::AppState;

pub const ESTATES: usize = 4;
pub const BUILDINGS_PER_ESTATE: usize = 5;

/// A running server and the data directory it lives in (removed on drop).
pub struct Server {
    pub port: u16,
    pub state: actix_web::web::Data<AppState>,
    _data: tempfile::TempDir,
}

/// Builds the real application (`Application::build`) on port 0 with a
/// fresh data directory and runs it on the current tokio runtime.
pub async fn start() -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings::load(None).expect("settings");
    settings.server.port = 0;
    settings.live.rtmp_port = 0;
    settings.data_dir = data.path().to_owned();
    settings.database.url = format!("sqlite://{}", data.path().join("pavilion.sqlite").display());
    settings.auth.argon2_memory_kib = 256;
    settings.auth.argon2_iterations = 1;
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let port = app.port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    Server {
        port,
        state,
        _data: data,
    }
}

pub struct Place {
    pub community: CommunityId,
    pub estates: Vec<EstateId>,
    /// Estate index first: building `b` is in estate `b / BUILDINGS_PER_ESTATE`.
    pub buildings: Vec<BuildingId>,
    pub groups: Vec<ScreenGroupId>,
}

pub fn system() -> Actor {
    Actor {
        id: None,
        name: "bench".into(),
    }
}

pub fn actor(who: &Account) -> Actor {
    Actor {
        id: Some(who.id),
        name: who.username.clone(),
    }
}

/// Screens go round the buildings in order.
pub fn building_of(screen: usize) -> usize {
    screen % (ESTATES * BUILDINGS_PER_ESTATE)
}

pub fn estate_of(screen: usize) -> usize {
    building_of(screen) / BUILDINGS_PER_ESTATE
}

pub async fn seed_place(state: &AppState) -> Place {
    let store = &state.store;
    let name = |s: &str| PlaceName::parse(s).unwrap();
    let community = store
        .create_community(
            &system(),
            &name("幸福社区"),
            &CommunityCode::parse("XF").unwrap(),
        )
        .await
        .unwrap();
    let mut estates = Vec::new();
    let mut buildings = Vec::new();
    for estate_name in ["阳光花园", "翠竹苑", "金桂里", "和平新村"] {
        let estate = store
            .create_estate(&system(), community.id, &name(estate_name))
            .await
            .unwrap();
        for b in 1..=BUILDINGS_PER_ESTATE {
            let building = store
                .create_building(&system(), estate.id, &name(&format!("{b}号楼")))
                .await
                .unwrap();
            buildings.push(building.id);
        }
        estates.push(estate.id);
    }
    let mut groups = Vec::new();
    for group in ["电梯厅", "物业中心"] {
        let group = store
            .create_screen_group(&system(), community.id, &name(group))
            .await
            .unwrap();
        groups.push(group.id);
    }
    Place {
        community: community.id,
        estates,
        buildings,
        groups,
    }
}

pub async fn create_admin(state: &AppState) -> Account {
    let hash = state
        .accounts
        .hash(&Password::parse("bench-password-1".into()).unwrap())
        .await
        .unwrap();
    let new = NewAccount {
        username: Username::parse("admin").unwrap(),
        display_name: DisplayName::parse("管理员").unwrap(),
        password_hash: hash,
        role: Role::Admin,
        community_id: None,
        estate_id: None,
        unit_id: None,
    };
    state.store.create_account(&system(), new).await.unwrap()
}

pub fn setup(place: &Place, index: usize) -> ScreenSetup {
    let group = match index {
        i if i % 3 == 0 => Some(place.groups[0]),
        i if i % 7 == 0 => Some(place.groups[1]),
        _ => None,
    };
    ScreenSetup {
        name: format!(
            "{}号楼大堂 {index}",
            building_of(index) % BUILDINGS_PER_ESTATE + 1
        ),
        building_id: place.buildings[building_of(index)],
        group_id: group,
        orientation: if index % 4 == 3 {
            Orientation::Portrait
        } else {
            Orientation::Landscape
        },
    }
}

/// Pairs the screens, the first few as a screen and an admin do it over
/// HTTP and the service (both rate-limited), the rest below the limits.
pub async fn pair(
    state: &AppState,
    place: &Place,
    admin: &Account,
    port: u16,
    screens: usize,
) -> Vec<(Screen, String)> {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}/kiosk/api");
    let mut paired = Vec::with_capacity(screens);
    for index in 0..screens {
        let setup = setup(place, index);
        if index < 3 {
            let pairing: serde_json::Value = http
                .post(format!("{base}/pairings"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let code = pairing["code"].as_str().unwrap();
            let secret = pairing["secret"].as_str().unwrap();
            let screen = state
                .signage
                .claim_pairing(admin, code, &setup)
                .await
                .expect("code claimed");
            let answer: serde_json::Value = http
                .get(format!("{base}/pairings/{secret}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            paired.push((screen, answer["token"].as_str().unwrap().to_owned()));
            continue;
        }
        let pairing = state.signage.start_pairing().await.unwrap();
        let screen = state
            .store
            .claim_pairing(
                &actor(admin),
                &pairing.code,
                &setup,
                &tokens::random_token(),
                Utc::now(),
            )
            .await
            .unwrap();
        let PairingStatus::Paired { token } =
            state.signage.poll_pairing(&pairing.secret).await.unwrap()
        else {
            panic!("screen {index} not paired");
        };
        paired.push((screen, token));
    }
    paired
}

pub fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).unwrap()
}

pub const FEE_TABLE: &str = "## 2026年10月物业费收支公示\n\n\
    | 项目 | 收入（元） | 支出（元） | 说明 |\n\
    | --- | ---: | ---: | --- |\n\
    | 物业服务费 | 386,420.00 | | 收缴率 93.1% |\n\
    | 停车费 | 52,300.00 | | 地面车位 218 个 |\n\
    | 公共收益（广告） | 8,600.00 | | 电梯广告 24 块 |\n\
    | 保安人员工资 | | 96,000.00 | 16 人 |\n\
    | 保洁人员工资 | | 54,000.00 | 12 人 |\n\
    | 绿化养护 | | 12,800.00 | 含补种 |\n\
    | 电梯维保 | | 18,400.00 | 23 部 |\n\
    | 公共水电 | | 21,730.50 | |\n\
    | 维修材料 | | 9,215.00 | 明细见物业中心 |\n\
    | 消防检测 | | 6,500.00 | 年检 |\n\
    | 办公费用 | | 3,120.00 | |\n\
    | **合计** | **447,320.00** | **221,765.50** | |\n\n\
    如有疑问，请于本月25日前到物业中心查阅凭证，或拨打 0571-88886666。";

pub const PRICE_TABLE: &str = "| 服务 | 收费标准 |\n| --- | --- |\n\
    | 多层住宅物业费 | 1.20 元/㎡·月 |\n| 高层住宅物业费 | 1.80 元/㎡·月 |\n\
    | 地面停车 | 150 元/月 |\n| 地下停车 | 250 元/月 |\n\
    | 装修垃圾清运 | 300 元/户 |\n| 门禁卡补办 | 20 元/张 |";

pub const PROSE: &str = "各位居民：\n\n为保障小区公共设施正常运行，物业将于**本周六上午**对\
    二次供水设备进行例行检修，届时高层住户水压可能偏低。请提前储水，\
    关好水龙头，避免来水时发生漫水。\n\n- 检修时间：08:00—12:00\n\
    - 影响范围：各楼 12 层以上\n- 联系电话：0571-88886666\n\n\
    给您带来的不便，敬请谅解。感谢大家的理解与支持！";
