//! Deterministic names: request ids, training job names and S3 locations.
//!
//! A SageMaker job name can never be reused in an account, so the job name derived from
//! (request id, attempt) *is* the idempotency key of a launch: `ResourceInUse` on create
//! means "this attempt was already launched".

use uuid::Uuid;

use crate::registry::RegistryConfig;

/// Every trainq job name starts with this; the EventBridge rule filters on it.
pub const JOB_NAME_PREFIX: &str = "tq-";

/// trainq's UUIDv5 namespace (a fixed, random UUID).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2d3e_9a4b_4c5d_8e7f_a0b1_c2d3_e4f5);

/// `tq-<32 hex digits>-<attempt>`: at most 3 + 32 + 1 + 10 = 46 characters, inside
/// SageMaker's rule (1–63 of `[a-zA-Z0-9](-*[a-zA-Z0-9])*`).
pub fn job_name(request_id: Uuid, attempt: u32) -> String {
    format!("{JOB_NAME_PREFIX}{}-{attempt}", request_id.simple())
}

/// CreateModelPackage's `ClientToken` for the model of `job_name`: a UUIDv5 of the job name
/// (36 characters of `[a-f0-9-]`, inside AWS's 1–36 of `[a-zA-Z0-9-]+`), so a retried
/// registration of the same job sends the same token. The job name itself (up to 46
/// characters) is too long for the field.
pub fn registration_client_token(job_name: &str) -> String {
    Uuid::new_v5(&NAMESPACE, format!("model-package:{job_name}").as_bytes())
        .hyphenated()
        .to_string()
}

/// The request id and attempt of a trainq job name; `None` for any other name.
pub fn parse_job_name(name: &str) -> Option<(Uuid, u32)> {
    let rest = name.strip_prefix(JOB_NAME_PREFIX)?;
    let (hex, attempt) = rest.split_once('-')?;
    if hex.len() != 32 {
        return None;
    }
    let id = Uuid::try_parse(hex).ok()?;
    let attempt: u32 = attempt.parse().ok()?;
    (attempt >= 1 && job_name(id, attempt) == name).then_some((id, attempt))
}

/// The request id of a message that carries none: stable across redeliveries of that message.
pub fn request_id_for_message(message_id: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("sqs-message:{message_id}").as_bytes())
}

/// The request id for data-shift retraining: the same (customer, project, dedupe key) always
/// gives the same id, so the backend can enqueue the same shift twice and train once.
pub fn dedupe_request_id(customer: &str, project: &str, dedupe_key: &str) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("dedupe:{customer}/{project}/{dedupe_key}").as_bytes(),
    )
}

/// The request id a client sends: UUIDv5 of (customer, project, `dedupe_key`) when a key is
/// given (data-shift retraining: the same shift is trained once), else the request's own id,
/// else a new random one (so the client can follow the request it sent).
pub fn client_request_id(
    request: &crate::request::TrainingRequest,
    dedupe_key: Option<&str>,
) -> Uuid {
    match (dedupe_key, request.request_id) {
        (Some(key), _) => dedupe_request_id(&request.customer, &request.project, key),
        (None, Some(id)) => id,
        (None, None) => Uuid::new_v4(),
    }
}

/// Keys `request` by `dedupe_key`: its id becomes UUIDv5 of (customer, project, key) and the
/// key is recorded in its `origin` (where the dispatcher checks that the two agree).
pub fn apply_dedupe_key(request: &mut crate::request::TrainingRequest, dedupe_key: &str) {
    request.request_id = Some(dedupe_request_id(
        &request.customer,
        &request.project,
        dedupe_key,
    ));
    request
        .origin
        .get_or_insert(crate::request::Origin {
            dedupe_key: None,
            signal: None,
        })
        .dedupe_key = Some(dedupe_key.to_owned());
}

/// The checkpoint prefix of a request, shared by all its attempts so a retry resumes.
pub fn checkpoint_uri(
    registry: &RegistryConfig,
    customer: &str,
    project: &str,
    request_id: Uuid,
) -> String {
    format!(
        "{}/{customer}/{project}/{}/",
        registry.checkpoint_s3_uri,
        request_id.simple()
    )
}

/// Where a project's model artifacts go; SageMaker appends `<job name>/output/model.tar.gz`.
pub fn output_uri(registry: &RegistryConfig, customer: &str, project: &str) -> String {
    format!("{}/{customer}/{project}/", registry.output_s3_uri)
}

/// SageMaker's longest model package group name.
const MAX_GROUP_NAME: usize = 63;

/// Hex digits of the hash that ends a group name too long to spell out (64 bits).
const GROUP_HASH_HEX: usize = 16;

/// The model package group of (registry prefix, customer, project):
/// `<prefix>-<customer>--<project>`. Injective: slugs are `[a-z0-9]` with single inner hyphens
/// and prefixes have no `--` nor a trailing hyphen (checked at cold start), so the only `--`
/// is the separator and a name splits back one way. Names longer than SageMaker's 63
/// characters keep their start and end in `---` and 16 hex digits of the SHA-256 of the full
/// name: a `---` never occurs in a spelled-out name, so the two kinds never meet, and two
/// long names meet only if SHA-256 collides on 64 bits. Both are deterministic.
///
/// Version 1 joined the three with single hyphens, which collided (`a-b`+`c` and `a`+`b-c`);
/// [`legacy_model_package_group_name`] keeps that spelling for the champion of a group made
/// before (docs/deploy.md, "Migrating model package groups").
pub fn model_package_group_name(prefix: &str, customer: &str, project: &str) -> String {
    let full = format!("{prefix}-{customer}--{project}");
    if full.len() <= MAX_GROUP_NAME {
        return full;
    }
    let hash = crate::request::sha256_hex(full.as_bytes());
    let keep = full[..MAX_GROUP_NAME - 3 - GROUP_HASH_HEX].trim_end_matches('-');
    format!("{keep}---{}", &hash[..GROUP_HASH_HEX])
}

/// The group name version 1 gave (prefix, customer, project): `<prefix>-<customer>-<project>`,
/// cut at 63 characters with 8 hex digits of a hash. Not injective: a group of that name may
/// hold another customer's models, so a champion found there must say it is this project's.
pub fn legacy_model_package_group_name(prefix: &str, customer: &str, project: &str) -> String {
    let full = format!("{prefix}-{customer}-{project}");
    if full.len() <= MAX_GROUP_NAME {
        return full;
    }
    let hash = Uuid::new_v5(&NAMESPACE, format!("model-group:{full}").as_bytes()).simple();
    let keep = full[..MAX_GROUP_NAME - 9].trim_end_matches('-');
    format!("{keep}-{}", &hash.to_string()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sagemaker_accepts(name: &str) -> bool {
        let b = name.as_bytes();
        (1..=63).contains(&b.len())
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    }

    #[test]
    fn job_names_are_deterministic_and_valid_for_sagemaker() {
        let id = Uuid::from_u128(u128::MAX);
        let name = job_name(id, u32::MAX);
        assert_eq!(name, job_name(id, u32::MAX));
        assert!(sagemaker_accepts(&name), "{name}");
        assert_eq!(name.len(), 46);
        assert_eq!(job_name(Uuid::nil(), 1), format!("tq-{}-1", "0".repeat(32)));
    }

    #[test]
    fn job_names_parse_back() {
        let id = Uuid::new_v4();
        assert_eq!(parse_job_name(&job_name(id, 3)), Some((id, 3)));
        for other in [
            "tq-abc-1",
            "train-1",
            "tq-",
            &format!("tq-{}-0", id.simple()),
            &format!("tq-{}-01", id.simple()),
        ] {
            assert_eq!(parse_job_name(other), None, "{other}");
        }
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(request_id_for_message("m-1"), request_id_for_message("m-1"));
        assert_ne!(request_id_for_message("m-1"), request_id_for_message("m-2"));
        assert_eq!(
            dedupe_request_id("a", "p", "v1"),
            dedupe_request_id("a", "p", "v1")
        );
        assert_ne!(
            dedupe_request_id("a", "p", "v1"),
            dedupe_request_id("a", "p", "v2")
        );
        assert_ne!(
            dedupe_request_id("a", "p", "v1"),
            request_id_for_message("a/p/v1")
        );
    }

    #[test]
    fn locations_are_per_registry_and_per_request() {
        let r = crate::testing::sample_registries();
        let id = Uuid::from_u128(7);
        assert_eq!(
            checkpoint_uri(&r.research, "acme", "p", id),
            format!("s3://research-models/checkpoints/acme/p/{}/", id.simple())
        );
        assert_eq!(
            output_uri(&r.production, "acme", "p"),
            "s3://prod-models/output/acme/p/"
        );
    }

    #[test]
    fn group_names_of_different_projects_never_meet() {
        // Version 1 gave both `prod-a-b-c`.
        assert_eq!(
            legacy_model_package_group_name("prod", "a-b", "c"),
            legacy_model_package_group_name("prod", "a", "b-c")
        );
        assert_eq!(model_package_group_name("prod", "a-b", "c"), "prod-a-b--c");
        assert_eq!(model_package_group_name("prod", "a", "b-c"), "prod-a--b-c");
        // Every split of a hyphenated string, short and long.
        let words = ["x", "y-z", "q"];
        let mut names = std::collections::BTreeSet::new();
        let mut pairs = 0;
        for pad in [0, 20] {
            for i in 0..words.len() {
                for j in 0..words.len() {
                    let c = format!("{}{}", words[i], "-c".repeat(pad / 2));
                    let p = format!("{}{}", words[j], "-p".repeat(pad / 2));
                    let name = model_package_group_name("trainq-production", &c, &p);
                    assert!(sagemaker_accepts(&name) && name.len() <= 63, "{name}");
                    names.insert(name);
                    pairs += 1;
                }
            }
        }
        assert_eq!(names.len(), pairs);
    }

    #[test]
    fn model_group_names_fit_sagemaker_and_stay_distinct() {
        assert_eq!(
            model_package_group_name("prod", "acme", "scratch-detect"),
            "prod-acme--scratch-detect"
        );
        let long = |p: &str| model_package_group_name("trainq-production", &"c".repeat(32), p);
        let (a, b) = (long(&"p".repeat(32)), long(&format!("{}q", "p".repeat(31))));
        assert_ne!(a, b);
        assert_eq!(a, long(&"p".repeat(32)), "deterministic");
        for name in [a, b] {
            assert!(name.len() <= 63 && sagemaker_accepts(&name), "{name}");
        }
    }

    #[test]
    fn clients_name_requests_by_dedupe_key_then_their_own_id() {
        let mut req = crate::request::parse(&crate::testing::sample_request().to_string()).unwrap();
        let own = req.request_id.unwrap();
        assert_eq!(client_request_id(&req, None), own);
        assert_eq!(
            client_request_id(&req, Some("2026-11-20")),
            dedupe_request_id("acme", "scratch-detect", "2026-11-20")
        );
        req.request_id = None;
        assert_ne!(client_request_id(&req, None), client_request_id(&req, None));
    }
}
