//! The scale check behind `mini-mesos --scale-check` (and `cargo xtask bench emulator`): many
//! agents and tasks on one emulator, a framework driving it over real HTTP, and how long the
//! timer ticks (allocation cycles included) take compared with the allocation interval.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use mesos::scheduler::{Call, CallKind, Event, Subscribe};
use mesos::{
    CommandInfo, ExecutorID, ExecutorInfo, Filters, FrameworkInfo, Operation, Resource, TaskID,
    TaskInfo,
};

use super::{Emulator, EmulatorConfig};

/// What the scale check measured.
#[derive(Clone, Debug)]
pub struct ScaleReport {
    pub agents: usize,
    pub tasks: usize,
    pub allocation_interval: Duration,
    /// Time to accept offers and launch every task (1 executor process per agent).
    pub launch: Duration,
    /// Ticks measured once every task was launched, while offers kept cycling.
    pub ticks: u64,
    pub mean_tick: Duration,
    pub max_tick: Duration,
}

/// Starts `agents` agents, launches `tasks` tasks spread over them (each agent runs one
/// `sleep` executor that never subscribes, so tasks stay STAGING in the master's books), then
/// measures `measure` worth of timer ticks while the framework declines every offer.
pub async fn scale_check(
    agents: usize,
    tasks: usize,
    measure: Duration,
) -> anyhow::Result<ScaleReport> {
    anyhow::ensure!(
        agents > 0 && tasks >= agents,
        "the scale check needs agents > 0 and tasks >= agents"
    );
    let allocation_interval = Duration::from_secs(1);
    let config = EmulatorConfig {
        allocation_interval,
        executor_registration_timeout: Duration::from_secs(24 * 3600),
        ..EmulatorConfig::default()
    }
    .with_agents(agents);
    let emu = Emulator::start(config).await?;
    let client = reqwest::Client::builder().http1_only().build()?;
    let endpoint = emu.master_url().join("api/v1/scheduler")?;
    let subscribe = Call::new(
        None,
        CallKind::Subscribe(Subscribe {
            framework_info: FrameworkInfo::new("root", "scale"),
            suppressed_roles: Vec::new(),
            offer_constraints: None,
        }),
    );
    let response = client
        .post(endpoint.clone())
        .header("Content-Type", "application/json")
        .body(subscribe.to_json())
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "SUBSCRIBE answered {}", response.status());
    let stream_id = response
        .headers()
        .get("Mesos-Stream-Id")
        .context("no Mesos-Stream-Id")?
        .to_str()?
        .to_owned();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut decoder = mesos::recordio::Decoder::default();
        let mut body = response.bytes_stream();
        while let Some(Ok(chunk)) = body.next().await {
            let Ok(records) = decoder.decode(&chunk) else { return };
            for r in records {
                if let Ok(e) = Event::from_record(&r) {
                    let _ = tx.send(e);
                }
            }
        }
    });
    let mut framework = None;
    let per_agent = tasks / agents;
    let mut extra = tasks % agents;
    let mut launched_agents = std::collections::HashSet::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    let call = |framework: &Option<mesos::FrameworkID>, kind| {
        client
            .post(endpoint.clone())
            .header("Content-Type", "application/json")
            .header("Mesos-Stream-Id", stream_id.clone())
            .body(Call::new(framework.clone(), kind).to_json())
            .send()
    };
    while launched_agents.len() < agents {
        anyhow::ensure!(Instant::now() < deadline, "launching took longer than 10 minutes");
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .context("no event for 30 s")?
            .context("stream ended")?;
        match event {
            Event::Subscribed(s) => framework = Some(s.framework_id),
            Event::Offers(o) => {
                for offer in o.offers {
                    if !launched_agents.insert(offer.agent_id.value.clone()) {
                        call(
                            &framework,
                            CallKind::decline(vec![offer.id], Some(Filters::refuse(0.0))),
                        )
                        .await?;
                        continue;
                    }
                    let n = per_agent + usize::from(extra > 0);
                    extra = extra.saturating_sub(1);
                    let mut exec =
                        ExecutorInfo::new(ExecutorID::new(format!("exec-{}", offer.hostname)));
                    exec.command = Some(CommandInfo {
                        value: Some("sleep 3600".into()),
                        ..CommandInfo::default()
                    });
                    exec.resources = vec![Resource::scalar("cpus", 0.01)];
                    let infos = (0..n)
                        .map(|i| {
                            let id = format!("{}-task-{i}", offer.hostname);
                            let mut t = TaskInfo::new(
                                &id,
                                TaskID::new(id.clone()),
                                offer.agent_id.clone(),
                                vec![Resource::scalar("cpus", 0.01), Resource::scalar("mem", 1.0)],
                            );
                            t.executor = Some(exec.clone());
                            t
                        })
                        .collect();
                    let r = call(
                        &framework,
                        CallKind::accept(
                            vec![offer.id],
                            vec![Operation::launch(infos)],
                            Some(Filters::refuse(0.0)),
                        ),
                    )
                    .await?;
                    anyhow::ensure!(r.status() == 202, "ACCEPT answered {}", r.status());
                }
            }
            _ => {}
        }
    }
    let launch = started.elapsed();
    let known = emu.state().tasks().count();
    anyhow::ensure!(known == tasks, "the master knows {known} tasks, expected {tasks}");
    emu.reset_tick_stats();
    let until = Instant::now() + measure;
    while Instant::now() < until {
        if let Ok(Some(Event::Offers(o))) =
            tokio::time::timeout(Duration::from_millis(100), events.recv()).await
        {
            let ids = o.offers.into_iter().map(|o| o.id).collect();
            call(&framework, CallKind::decline(ids, Some(Filters::refuse(0.0)))).await?;
        }
    }
    let stats = emu.tick_stats();
    reader.abort();
    emu.shutdown().await;
    Ok(ScaleReport {
        agents,
        tasks,
        allocation_interval,
        launch,
        ticks: stats.ticks,
        mean_tick: stats
            .total
            .checked_div(u32::try_from(stats.ticks.max(1)).unwrap_or(u32::MAX))
            .unwrap_or_default(),
        max_tick: stats.max,
    })
}
