//! The OpenAPI 3 document, generated from the handlers' annotations.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::api;
use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tianshu API", description = "天枢 operations-support platform: JSON API. Errors are RFC 9457 problem+json with a stable `code`."),
    paths(
        api::health::healthz, api::health::readyz, api::health::metrics,
        api::session::login, api::session::me, api::session::logout,
        api::identity::list_users, api::identity::create_user, api::identity::get_user, api::identity::patch_user, api::identity::set_password,
        api::identity::list_orgs, api::identity::create_org, api::identity::list_roles, api::identity::list_systems,
        api::tokens::list, api::tokens::create, api::tokens::revoke,
        api::incidents::list, api::incidents::create, api::incidents::get, api::incidents::timeline, api::incidents::put_facts, api::incidents::put_leased_line,
        api::incidents::lower, api::incidents::act, api::incidents::dispatch, api::incidents::progress, api::incidents::report, api::incidents::merge,
        api::incidents::unmerge, api::incidents::link,
        api::incidents::duplicates, api::incidents::frequent, api::incidents::bug, api::incidents::attach, api::incidents::attachments, api::incidents::download,
        api::audit::list, api::audit::verify,
        api::policy::get, api::policy::reload,
        api::calendar::list, api::calendar::deadline, api::calendar::working_time, api::calendar::get_year, api::calendar::put_year,
        api::notifications::templates, api::notifications::template, api::notifications::put_template, api::notifications::preview,
        api::notifications::lists, api::notifications::put_list, api::notifications::contacts, api::notifications::add_contact,
        api::notifications::messages, api::notifications::draft, api::notifications::message, api::notifications::edit,
        api::notifications::action, api::notifications::of_incident,
        api::duty::setup, api::duty::roster, api::duty::generate, api::duty::coverage, api::duty::on_duty,
        api::duty::override_assignment, api::duty::overrides, api::duty::swaps, api::duty::request_swap, api::duty::decide_swap,
        api::duty::reports, api::duty::file_report, api::duty::handovers, api::duty::add_handover,
        api::duty::comp_time_all, api::duty::comp_time, api::duty::comp_time_xlsx, api::duty::roster_xlsx,
        api::duty::import_roster, api::duty::ics,
        api::alerts::alertmanager, api::alerts::event, api::alerts::list, api::alerts::get, api::alerts::act,
        api::alerts::silences, api::alerts::create_silence, api::alerts::silence, api::alerts::expire_silence,
        api::alerts::maintenance, api::alerts::create_maintenance, api::alerts::maintenance_window,
        api::alerts::cancel_maintenance,
        api::monitoring::list_probes, api::monitoring::create_probe, api::monitoring::get_probe,
        api::monitoring::put_probe, api::monitoring::delete_probe, api::monitoring::run_probe,
        api::monitoring::list_databases, api::monitoring::create_database, api::monitoring::put_database,
        api::monitoring::delete_database, api::monitoring::list_points, api::monitoring::create_point,
        api::monitoring::get_point, api::monitoring::put_point, api::monitoring::delete_point,
        api::monitoring::run_point, api::monitoring::get_signin, api::monitoring::post_signin,
        api::monitoring::severe_budget,
        api::views::list, api::views::create, api::views::delete,
        api::reports::trends,
        api::problems::create, api::problems::list, api::problems::get, api::problems::act, api::problems::monthly,
        api::dataops::targets, api::dataops::register_target, api::dataops::list, api::dataops::submit,
        api::dataops::get, api::dataops::execute, api::dataops::act, api::dataops::audit_report,
        api::cutovers::list, api::cutovers::apply, api::cutovers::get, api::cutovers::approve,
        api::cutovers::log, api::cutovers::complete, api::cutovers::releases, api::cutovers::plan_release,
        api::cutovers::register_requirement, api::cutovers::requirement_action, api::cutovers::requirements_week,
        api::kpi::scorecards, api::kpi::scorecards_xlsx, api::kpi::list_customers, api::kpi::create_customer, api::kpi::set_customer_tier,
        api::kpi::pack, api::kpi::pack_xlsx,
        api::cutovers::requirements, api::cutovers::requirement, api::cutovers::release,
        api::cutovers::release_decision, api::cutovers::release_verify, api::dataops::settle,
        api::cutovers::release_prerequisite,
        api::cutovers::start, api::cutovers::rectification,
        api::cutovers::assurance_plans, api::cutovers::create_assurance_plan, api::cutovers::assurance_plan,
        api::cutovers::assurance_plan_action,
        api::recon::jobs, api::recon::job, api::recon::trend, api::recon::runs, api::recon::run_now, api::recon::run,
        api::recon::differences, api::recon::details, api::recon::upload, api::recon::items, api::recon::item,
        api::recon::act,
        api::provisioning::customer, api::provisioning::list_orders, api::provisioning::create_order,
        api::provisioning::get_order, api::provisioning::file_delay, api::provisioning::complete,
        api::provisioning::approve_delay, api::provisioning::reject_delay,
        api::provisioning::record_acceptance, api::provisioning::record_data_configuration,
        api::problems::meetings, api::problems::create_meeting, api::problems::meeting,
        api::problems::close_meeting_action,
        api::kpi::customer_leased_lines, api::complaints::list, api::complaints::create, api::complaints::get, api::complaints::close,
        api::assessments::assess, api::assessments::list,
    ),
    components(schemas(Problem)),
    modifiers(&Conventions),
    security(("bearer" = []), ("session" = [])),
)]
pub struct ApiDoc;

/// Adds the security schemes and the error responses every operation can return.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let comps = doc.components.get_or_insert_with(Default::default);
        comps.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tsk_…")
                    .build(),
            ),
        );
        comps.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("tianshu_session"))),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let api = path.starts_with("/api/");
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_errors(op, api);
            }
        }
    }
}

fn problem(desc: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(desc)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

fn add_errors(op: &mut Operation, api: bool) {
    let mut codes: Vec<(&str, &str)> =
        vec![("500", "internal error"), ("503", "database unavailable")];
    if api {
        codes.extend([
            ("400", "malformed request; `field` names the culprit"),
            ("401", "not authenticated"),
            ("403", "not permitted"),
            ("404", "not found"),
            ("405", "method not allowed"),
            (
                "409",
                "conflict (e.g. a duplicate key, or a transition not allowed now)",
            ),
            ("412", "stale version: the record changed since it was read"),
            ("413", "body too large"),
            ("415", "body is not JSON"),
            ("422", "invalid field value"),
            ("429", "rate limited or login locked"),
        ]);
    }
    for (code, desc) in codes {
        op.responses
            .responses
            .entry(code.to_string())
            .or_insert_with(|| problem(desc));
    }
}
