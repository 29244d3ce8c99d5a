//! Cluster steps through `scli` on an MDM node (probe with `--query_cluster` / `--query_all` /
//! `--query_all_sds` first, act only on what is missing) or through the REST gateway (find before
//! create): the MDM cluster sequence, protection domains, pools, SDSs, devices, and the LIA
//! installation id.

use scaleio::gateway::{Gateway, GatewayConfig, GatewayError};
use scaleio::scli::{self, ScliDone};
use scaleio::step::{
    AddDevice, AddProtectionDomain, AddSds, AddStandbyMdm, AddStoragePool, ClusterAccess,
    ClusterFacts, ConfigureLia, CreateMdmCluster, GatewayTls, MdmLogin, ObjectOutcome, Outcome,
    RenameSystem, SwitchClusterMode,
};
use scaleio::{DevicePath, ObjectName, Secret};

use super::Ctx;
use crate::error::StepError;
use crate::host::Cmd;

/// `scli --query_cluster`: `None` when this MDM is not part of a cluster.
async fn query_cluster(ctx: &Ctx, mdm_ip: Option<&str>) -> Result<Option<ClusterFacts>, StepError> {
    let c = scli::query_cluster(mdm_ip);
    let out = ctx.run(&Cmd::scli(&c)).await?;
    match scli::parse_query_cluster(&out.combined()) {
        Ok(facts) => Ok(facts),
        Err(_) if !out.success() => Err(StepError::command(
            "cannot query the MDM cluster",
            &out,
            "is the MDM package installed and the MDM running on this node?",
        )
        .retryable()),
        Err(e) => Err(StepError::msg(e.to_string())),
    }
}

async fn cluster_now(ctx: &Ctx, mdm_ip: Option<&str>) -> Result<ClusterFacts, StepError> {
    query_cluster(ctx, mdm_ip)
        .await?
        .ok_or_else(|| StepError::msg("the MDM reports no cluster after the step".to_owned()))
}

fn has_ip(facts: &ClusterFacts, ip: &str) -> bool {
    facts
        .master
        .iter()
        .chain(&facts.slaves)
        .chain(&facts.tiebreakers)
        .chain(&facts.standbys)
        .any(|m| m.ips.iter().any(|i| i == ip))
}

/// `create_mdm_cluster`: create, then the first logins (initial password → set password →
/// login); resumed where it stopped when `--query_cluster` shows a cluster already.
pub async fn create(ctx: &Ctx, step: &CreateMdmCluster) -> Result<(bool, Outcome), StepError> {
    let admin = ctx.secret(&step.admin_password)?;
    let existing = query_cluster(ctx, None).await?;
    let changed = match existing {
        None => {
            ctx.scli(&scli::create_mdm_cluster(
                &step.master_ip,
                &step.master_management_ip,
                &step.master_name,
            ))
            .await?;
            first_logins(ctx, &admin).await?;
            true
        }
        Some(facts) => {
            let master_ip = facts.master.as_ref().map(|m| m.ips.clone()).unwrap_or_default();
            if !master_ip.contains(&step.master_ip) {
                return Err(StepError::msg(format!(
                    "this MDM already belongs to a cluster whose master is {}, not {}\nhint: the node was part of another ScaleIO cluster; clean it up by hand before provisioning it",
                    master_ip.join(","),
                    step.master_ip
                )));
            }
            ctx.host.note("the MDM cluster exists; checking the admin password is set");
            let login = scli::login(None, "admin", &admin);
            match ctx.scli(&login).await {
                Ok(_) => false,
                Err(_) => {
                    // Interrupted after creation: the initial password still works.
                    first_logins(ctx, &admin).await?;
                    true
                }
            }
        }
    };
    Ok((changed, Outcome::CreateMdmCluster(cluster_now(ctx, None).await?)))
}

async fn first_logins(ctx: &Ctx, admin: &Secret) -> Result<(), StepError> {
    for c in scli::first_login_sequence(None, admin) {
        ctx.scli(&c).await?;
    }
    Ok(())
}

/// `add_standby_mdm`.
pub async fn add_standby(ctx: &Ctx, step: &AddStandbyMdm) -> Result<(bool, Outcome), StepError> {
    let ip = step.login.mdm_ip.as_deref();
    ctx.login(&step.login).await?;
    let facts = cluster_now(ctx, ip).await?;
    let changed = if has_ip(&facts, &step.ip) {
        ctx.host.note(format!("{} is already an MDM of the cluster", step.ip));
        false
    } else {
        let c = scli::add_standby_mdm(
            ip,
            &step.ip,
            step.role,
            step.management_ip.as_deref(),
            &step.name,
        );
        matches!(ctx.scli(&c).await?.0, ScliDone::Done { .. })
    };
    Ok((changed, Outcome::AddStandbyMdm(cluster_now(ctx, ip).await?)))
}

/// `switch_cluster_mode`.
pub async fn switch_mode(
    ctx: &Ctx,
    step: &SwitchClusterMode,
) -> Result<(bool, Outcome), StepError> {
    let ip = step.login.mdm_ip.as_deref();
    ctx.login(&step.login).await?;
    let facts = cluster_now(ctx, ip).await?;
    let changed = if facts.mode == "3_node" {
        ctx.host.note("the cluster is in 3_node mode");
        false
    } else {
        let c = scli::switch_to_3_node(ip, &step.add_slave_names, &step.add_tb_names);
        matches!(ctx.scli(&c).await?.0, ScliDone::Done { .. })
    };
    Ok((changed, Outcome::SwitchClusterMode(cluster_now(ctx, ip).await?)))
}

/// `rename_system`.
pub async fn rename(ctx: &Ctx, step: &RenameSystem) -> Result<(bool, Outcome), StepError> {
    let ip = step.login.mdm_ip.as_deref();
    ctx.login(&step.login).await?;
    let facts = cluster_now(ctx, ip).await?;
    let changed = if facts.name.as_deref() == Some(step.name.as_str()) {
        ctx.host.note(format!("the system is named {}", step.name));
        false
    } else {
        ctx.scli(&scli::rename_system(ip, &step.name)).await?;
        true
    };
    Ok((changed, Outcome::RenameSystem(cluster_now(ctx, ip).await?)))
}

async fn query_all(ctx: &Ctx, login: &MdmLogin) -> Result<scli::SystemSummary, StepError> {
    let (_, out) = ctx.scli(&scli::query_all(login.mdm_ip.as_deref())).await?;
    Ok(scli::parse_query_all(&out.stdout))
}

async fn gateway(
    ctx: &Ctx,
    access: &ClusterAccess,
) -> Result<Option<(Gateway, String)>, StepError> {
    let ClusterAccess::Gateway { endpoint, username, password, tls } = access else {
        return Ok(None);
    };
    // A CA file is the host's file, like the password file.
    let tls = match tls {
        GatewayTls::CaFile { path } => {
            GatewayTls::CaFile { path: ctx.host.path(path).display().to_string() }
        }
        other => other.clone(),
    };
    let config = GatewayConfig::from_step(endpoint, username, ctx.secret(password)?, &tls);
    let gw = Gateway::new(config).map_err(gw_err(endpoint))?;
    gw.login().await.map_err(gw_err(endpoint))?;
    let system = gw.find_system(None, None).await.map_err(gw_err(endpoint))?;
    ctx.host.note(format!("gateway {endpoint}: system {}", system.id));
    Ok(Some((gw, system.id)))
}

fn gw_err(endpoint: &str) -> impl Fn(GatewayError) -> StepError + '_ {
    move |e| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        let mut err = StepError::msg(format!("gateway {endpoint}: {text}"));
        err.retryable = matches!(e, GatewayError::Transport { .. });
        err
    }
}

async fn pd_id(
    gw: &Gateway,
    system: &str,
    name: &str,
    endpoint: &str,
) -> Result<String, StepError> {
    gw.protection_domains(system)
        .await
        .map_err(gw_err(endpoint))?
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.id)
        .ok_or_else(|| StepError::msg(format!("no protection domain `{name}` on the gateway {endpoint}\nhint: run the add_protection_domain step first")))
}

async fn pool_id(gw: &Gateway, pd: &str, name: &str, endpoint: &str) -> Result<String, StepError> {
    gw.storage_pools(pd)
        .await
        .map_err(gw_err(endpoint))?
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.id)
        .ok_or_else(|| StepError::msg(format!("no storage pool `{name}` on the gateway {endpoint}\nhint: run the add_storage_pool step first")))
}

fn endpoint(access: &ClusterAccess) -> &str {
    match access {
        ClusterAccess::Gateway { endpoint, .. } => endpoint,
        ClusterAccess::Scli { .. } => "scli",
    }
}

fn scli_login(access: &ClusterAccess) -> Option<&MdmLogin> {
    match access {
        ClusterAccess::Scli { login } => Some(login),
        ClusterAccess::Gateway { .. } => None,
    }
}

fn outcome(name: &str, id: Option<String>, already_existed: bool) -> ObjectOutcome {
    ObjectOutcome { name: name.to_owned(), id, already_existed }
}

/// `add_protection_domain`.
pub async fn add_pd(ctx: &Ctx, step: &AddProtectionDomain) -> Result<(bool, Outcome), StepError> {
    if let Some((gw, system)) = gateway(ctx, &step.access).await? {
        let o = gw
            .ensure_protection_domain(&system, step.name.as_str())
            .await
            .map_err(gw_err(endpoint(&step.access)))?;
        return Ok((!o.already_existed, Outcome::AddProtectionDomain(o)));
    }
    let login = scli_login(&step.access).expect("not the gateway, so scli");
    ctx.login(login).await?;
    let summary = query_all(ctx, login).await?;
    if summary.protection_domains.iter().any(|(pd, _)| pd == step.name.as_str()) {
        ctx.host.note(format!("protection domain {} exists", step.name));
        return Ok((false, Outcome::AddProtectionDomain(outcome(step.name.as_str(), None, true))));
    }
    let (done, _) =
        ctx.scli(&scli::add_protection_domain(login.mdm_ip.as_deref(), &step.name)).await?;
    let (changed, o) = object(step.name.as_str(), done);
    Ok((changed, Outcome::AddProtectionDomain(o)))
}

fn object(name: &str, done: ScliDone) -> (bool, ObjectOutcome) {
    match done {
        ScliDone::Done { object_id } => (true, outcome(name, object_id, false)),
        ScliDone::AlreadyDone => (false, outcome(name, None, true)),
    }
}

/// `add_storage_pool`.
pub async fn add_pool(ctx: &Ctx, step: &AddStoragePool) -> Result<(bool, Outcome), StepError> {
    if let Some((gw, system)) = gateway(ctx, &step.access).await? {
        let ep = endpoint(&step.access);
        let pd = pd_id(&gw, &system, step.protection_domain.as_str(), ep).await?;
        let o = gw.ensure_storage_pool(&pd, step.name.as_str()).await.map_err(gw_err(ep))?;
        return Ok((!o.already_existed, Outcome::AddStoragePool(o)));
    }
    let login = scli_login(&step.access).expect("not the gateway, so scli");
    ctx.login(login).await?;
    let summary = query_all(ctx, login).await?;
    let exists = summary.protection_domains.iter().any(|(pd, pools)| {
        pd == step.protection_domain.as_str() && pools.iter().any(|p| p == step.name.as_str())
    });
    if exists {
        ctx.host.note(format!("storage pool {}/{} exists", step.protection_domain, step.name));
        return Ok((false, Outcome::AddStoragePool(outcome(step.name.as_str(), None, true))));
    }
    let c = scli::add_storage_pool(login.mdm_ip.as_deref(), &step.protection_domain, &step.name);
    let (changed, o) = object(step.name.as_str(), ctx.scli(&c).await?.0);
    Ok((changed, Outcome::AddStoragePool(o)))
}

/// `add_sds`.
pub async fn add_sds(ctx: &Ctx, step: &AddSds) -> Result<(bool, Outcome), StepError> {
    if let Some((gw, system)) = gateway(ctx, &step.access).await? {
        let ep = endpoint(&step.access);
        let pd = pd_id(&gw, &system, step.protection_domain.as_str(), ep).await?;
        let sds = gw.ensure_sds(&pd, step.name.as_str(), &step.ip).await.map_err(gw_err(ep))?;
        let mut changed = !sds.already_existed;
        let sds_id = sds.id.clone().unwrap_or_default();
        let mut devices = Vec::new();
        for d in &step.devices {
            let pool = pool_id(&gw, &pd, d.storage_pool.as_str(), ep).await?;
            let o = gw.ensure_device(&pool, &sds_id, d.path.as_str()).await.map_err(gw_err(ep))?;
            changed |= !o.already_existed;
            devices.push(o);
        }
        return Ok((changed, Outcome::AddSds { sds, devices }));
    }
    let login = scli_login(&step.access).expect("not the gateway, so scli");
    ctx.login(login).await?;
    let (_, out) = ctx.scli(&scli::query_all_sds(login.mdm_ip.as_deref())).await?;
    let all = scli::parse_query_all_sds(&out.stdout).map_err(|e| StepError::msg(e.to_string()))?;
    if let Some(s) = all.iter().find(|s| s.ip == step.ip) {
        ctx.host.note(format!("SDS {} ({}) exists on {}", s.name, s.id, s.ip));
        let mut changed = false;
        let mut devices = Vec::new();
        for d in &step.devices {
            let (c, o) = add_device_scli(
                ctx,
                login,
                &step.ip,
                &step.protection_domain,
                &d.storage_pool,
                &d.path,
            )
            .await?;
            changed |= c;
            devices.push(o);
        }
        return Ok((
            changed,
            Outcome::AddSds { sds: outcome(&s.name, Some(s.id.clone()), true), devices },
        ));
    }
    if let Some(s) = all.iter().find(|s| s.name == step.name.as_str()) {
        return Err(StepError::msg(format!(
            "an SDS named {} already exists on {}, not on {}\nhint: SDSs are identified by IP; remove or rename the other SDS",
            s.name, s.ip, step.ip
        )));
    }
    let pairs: Vec<(DevicePath, ObjectName)> =
        step.devices.iter().map(|d| (d.path.clone(), d.storage_pool.clone())).collect();
    let c = scli::add_sds(
        login.mdm_ip.as_deref(),
        &step.ip,
        &step.protection_domain,
        &step.name,
        &pairs,
    );
    let (changed, sds) = object(step.name.as_str(), ctx.scli(&c).await?.0);
    let devices = step.devices.iter().map(|d| outcome(d.path.as_str(), None, false)).collect();
    Ok((changed, Outcome::AddSds { sds, devices }))
}

async fn add_device_scli(
    ctx: &Ctx,
    login: &MdmLogin,
    sds_ip: &str,
    pd: &ObjectName,
    pool: &ObjectName,
    path: &DevicePath,
) -> Result<(bool, ObjectOutcome), StepError> {
    let c = scli::add_sds_device(login.mdm_ip.as_deref(), sds_ip, pd, pool, path);
    Ok(object(path.as_str(), ctx.scli(&c).await?.0))
}

/// `add_device`.
pub async fn add_device(ctx: &Ctx, step: &AddDevice) -> Result<(bool, Outcome), StepError> {
    let d = &step.device;
    if let Some((gw, system)) = gateway(ctx, &step.access).await? {
        let ep = endpoint(&step.access);
        let pd = pd_id(&gw, &system, step.protection_domain.as_str(), ep).await?;
        let sds = gw
            .sds_list(&pd)
            .await
            .map_err(gw_err(ep))?
            .into_iter()
            .find(|s| s.ip_list.iter().any(|i| i.ip == step.sds_ip))
            .ok_or_else(|| {
                StepError::msg(format!(
                    "no SDS with IP {} in {}\nhint: run the add_sds step first",
                    step.sds_ip, step.protection_domain
                ))
            })?;
        let pool = pool_id(&gw, &pd, d.storage_pool.as_str(), ep).await?;
        let o = gw.ensure_device(&pool, &sds.id, d.path.as_str()).await.map_err(gw_err(ep))?;
        return Ok((!o.already_existed, Outcome::AddDevice(o)));
    }
    let login = scli_login(&step.access).expect("not the gateway, so scli");
    ctx.login(login).await?;
    let (changed, o) = add_device_scli(
        ctx,
        login,
        &step.sds_ip,
        &step.protection_domain,
        &d.storage_pool,
        &d.path,
    )
    .await?;
    Ok((changed, Outcome::AddDevice(o)))
}

/// `configure_lia`: the installation id from `scli --query_all` into LIA's file.
pub async fn configure_lia(ctx: &Ctx, step: &ConfigureLia) -> Result<(bool, Outcome), StepError> {
    if !ctx.host.exists("/opt/emc/scaleio/lia") {
        return Err(StepError::msg(
            "the LIA package is not installed (/opt/emc/scaleio/lia is missing)\nhint: run install_packages with the LIA first",
        ));
    }
    ctx.login(&step.login).await?;
    let summary = query_all(ctx, &step.login).await?;
    let id = summary.installation_id.ok_or_else(|| {
        StepError::msg("`scli --query_all` shows no Installation ID\nhint: is the MDM cluster created and this node logged in to it?")
    })?;
    let changed = ctx.host.write_atomic(
        scli::LIA_INSTALLATION_ID_FILE,
        format!("{id}\n").as_bytes(),
        0o644,
    )?;
    Ok((changed, Outcome::ConfigureLia { installation_id: id }))
}
