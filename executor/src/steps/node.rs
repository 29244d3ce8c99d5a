//! Node steps: the SDC's MDM list (`drv_cfg`), the gateway's properties and restart, service
//! restarts, the reboot (report the boot id; the runner reboots after the acknowledgement; done
//! when a new boot id appears) and the read-only verify checks.

use std::time::Duration;

use scaleio::render;
use scaleio::scli;
use scaleio::step::{
    Check, CheckOutcome, ConfigureGateway, ConfigureSdc, Outcome, Reboot, RestartService, Verify,
    version_matches,
};

use super::Ctx;
use crate::error::StepError;
use crate::host::Cmd;
use crate::packages::PackageManager as _;

async fn sdc_mdms(ctx: &Ctx) -> Result<Vec<String>, StepError> {
    let (_, out) = ctx.scli(&scli::drv_cfg_query_mdms()).await?;
    Ok(scli::parse_drv_cfg_query_mdms(&out.stdout))
}

/// `configure_sdc`.
pub async fn configure_sdc(ctx: &Ctx, step: &ConfigureSdc) -> Result<(bool, Outcome), StepError> {
    if !ctx.host.exists("/opt/emc/scaleio/sdc") {
        return Err(StepError::msg(
            "the SDC package is not installed (/opt/emc/scaleio/sdc is missing)\nhint: run install_packages with the SDC first",
        ));
    }
    let mut now = sdc_mdms(ctx).await?;
    let changed = if now == step.mdm_ips {
        ctx.host.note(format!("the SDC already knows MDMs {}", now.join(",")));
        false
    } else {
        ctx.scli(&scli::drv_cfg_add_mdm(&step.mdm_ips)).await?;
        now = sdc_mdms(ctx).await?;
        if now != step.mdm_ips {
            return Err(StepError::msg(format!(
                "after `drv_cfg --add_mdm` the SDC knows MDMs [{}], wanted [{}]\nhint: check {} on the agent",
                now.join(","),
                step.mdm_ips.join(","),
                scli::DRV_CFG_FILE
            )));
        }
        true
    };
    let (_, out) = ctx.scli(&scli::drv_cfg_query_guid()).await?;
    let guid = scli::parse_drv_cfg_query_guid(&out.stdout);
    Ok((changed, Outcome::ConfigureSdc { mdm_ips: now, guid }))
}

/// `configure_gateway`.
pub async fn configure_gateway(
    ctx: &Ctx,
    step: &ConfigureGateway,
) -> Result<(bool, Outcome), StepError> {
    let platform = ctx.platform()?;
    let current = ctx.host.read(render::GATEWAY_USER_PROPERTIES)?.ok_or_else(|| {
        StepError::msg(format!(
            "{} is missing\nhint: install the gateway package (install_packages) first",
            render::GATEWAY_USER_PROPERTIES
        ))
    })?;
    let wanted =
        render::gateway_user_properties(&current, &step.mdm_ips, step.bypass_certificate_check);
    let mode = {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(ctx.host.path(render::GATEWAY_USER_PROPERTIES))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o644)
    };
    let changed =
        ctx.host.write_atomic(render::GATEWAY_USER_PROPERTIES, wanted.as_bytes(), mode)?;
    let service = &step.restart.service;
    let wait = Duration::from_secs(step.restart.wait_seconds.into());
    if changed || !ctx.service_active(platform.init, service).await? {
        ctx.restart_service(platform.init, service, wait).await?;
    } else {
        ctx.host.note(format!("{service} is active and its properties unchanged"));
    }
    // The gateway's REST answer is checked by the scheduler, which holds the endpoint and CA.
    Ok((changed, Outcome::ConfigureGateway { api_version: String::new() }))
}

/// `restart_service`.
pub async fn restart(ctx: &Ctx, step: &RestartService) -> Result<(bool, Outcome), StepError> {
    let platform = ctx.platform()?;
    ctx.restart_service(
        platform.init,
        &step.service,
        Duration::from_secs(step.wait_seconds.into()),
    )
    .await?;
    Ok((true, Outcome::RestartService { service: step.service.clone() }))
}

/// `reboot`: `(changed, outcome, reboot after the acknowledgement)`.
pub fn reboot(ctx: &Ctx, step: &Reboot) -> Result<(bool, Outcome, bool), StepError> {
    let boot_id = super::preflight::boot_id(ctx)?;
    match &step.previous_boot_id {
        Some(previous) if *previous != boot_id => {
            ctx.host.note(format!("boot id changed from {previous}: the host rebooted"));
            Ok((true, Outcome::Reboot { boot_id, rebooting: false }, false))
        }
        _ => {
            ctx.host.note("rebooting once this update is acknowledged");
            Ok((true, Outcome::Reboot { boot_id, rebooting: true }, true))
        }
    }
}

/// `verify`: every check, none changes anything.
pub async fn verify(ctx: &Ctx, step: &Verify) -> Result<Outcome, StepError> {
    let mut checks = Vec::new();
    for check in &step.checks {
        let (ok, found) = match check {
            Check::Kernel { release } => {
                let k = super::preflight::kernel(ctx).await?;
                (k == *release, k)
            }
            Check::Package { name, version } => {
                let platform = ctx.platform()?;
                match ctx.manager(platform.family).installed(&ctx.host, name).await? {
                    Some(v) => (version_matches(version, &v), v),
                    None => (false, "not installed".to_owned()),
                }
            }
            Check::ServiceActive { service } => {
                let platform = ctx.platform()?;
                let ok = ctx.service_active(platform.init, service).await?;
                (ok, if ok { "active" } else { "not active" }.to_owned())
            }
            Check::SdcMdms { mdm_ips } => match sdc_mdms(ctx).await {
                Ok(now) => (now == *mdm_ips, now.join(",")),
                Err(e) => (false, e.message),
            },
            Check::ClusterMode { login } => {
                let facts = match ctx.login(login).await {
                    Ok(()) => {
                        let c = scli::query_cluster(login.mdm_ip.as_deref());
                        let out = ctx.run(&Cmd::scli(&c)).await?;
                        scli::parse_query_cluster(&out.combined()).map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.message),
                };
                match facts {
                    Ok(Some(f)) => {
                        (f.mode == "3_node", format!("mode {}, state {}", f.mode, f.state))
                    }
                    Ok(None) => (false, "no cluster".to_owned()),
                    Err(e) => (false, e),
                }
            }
            Check::RexrayVolumes => {
                let out = ctx.run(&Cmd::new("/usr/bin/rexray").args(["volume", "ls"])).await;
                match out {
                    Ok(o) if o.success() => (true, "rexray volume ls succeeded".to_owned()),
                    Ok(o) => (false, o.tail()),
                    Err(e) => (false, e.message),
                }
            }
        };
        checks.push(CheckOutcome { check: check.clone(), ok, found });
    }
    Ok(Outcome::Verify { checks })
}
