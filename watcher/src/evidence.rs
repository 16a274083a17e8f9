//! What the watcher finds out before it registers a model: the group's model in service (the
//! champion) and both models' manifests, judged for compatibility. Reading can fail for a
//! while (throttling, network: the event comes back) or for good (an artifact without a
//! manifest, a manifest off the schema: the verdict says so and the model is held).

use trainq_common::approval::Compatibility;
use trainq_common::manifest::{MANIFEST_FILE, ReadManifest};
use trainq_common::ports::{
    AlertSink, CapacityLedger, JobStore, ModelRegistry, RequestQueue, TrainingService,
};
use trainq_common::registration::{ChampionLookup, Evidence, completed_attempt};
use trainq_common::{JobRecord, RegistryConfig, ServiceError};

use crate::Watcher;

impl<S, T, A, Q, M, L> Watcher<S, T, A, Q, M, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    M: ModelRegistry,
    L: CapacityLedger,
{
    /// The champion and the compatibility verdict of `record`'s completed model.
    pub(crate) async fn evidence(
        &self,
        record: &JobRecord,
        registry: &RegistryConfig,
    ) -> Result<Evidence, ServiceError> {
        let (Some(request), Some(attempt)) = (&record.request, completed_attempt(record)) else {
            return Ok(Evidence::default());
        };
        let lookup = ChampionLookup::of(request, registry, &attempt.job_name);
        let champion = self.models.champion(&lookup).await?;
        let new = match &attempt.model_artifact {
            Some(url) => self.manifest(url).await?,
            None => Err("the job reported no model artifact".to_owned()),
        };
        let current = match &champion {
            None => None,
            Some(c) => Some(match &c.model_data_url {
                Some(url) => self.manifest(url).await?,
                None => Err("its package names no model artifact".to_owned()),
            }),
        };
        let verdict = Compatibility::judge(
            new.as_ref().map_err(Clone::clone),
            champion
                .as_ref()
                .zip(current.as_ref())
                .map(|(c, m)| (c.package_arn.as_str(), m.as_ref().map_err(Clone::clone))),
        );
        Ok(Evidence {
            manifest_digest: new.as_ref().ok().map(|m| m.digest.clone()),
            champion,
            compatibility: Some(verdict),
        })
    }

    /// The manifest in the artifact at `url`, or why there is none; `Err` of the outer result
    /// only for failures worth another try.
    async fn manifest(&self, url: &str) -> Result<Result<ReadManifest, String>, ServiceError> {
        match self.models.read_manifest(url).await {
            Ok(Some(bytes)) => Ok(ReadManifest::parse(&bytes)),
            Ok(None) => Ok(Err(format!("no {MANIFEST_FILE} in {url}"))),
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => Ok(Err(format!("{url} could not be read: {e}"))),
        }
    }
}
