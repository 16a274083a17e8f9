//! trainq's local AWS. For now: the local SageMaker endpoint ([`sagemaker`]), which speaks
//! SageMaker's JSON protocol for training jobs with AWS's validation and `ResourceInUse`,
//! can be told to throttle or enforce quotas, and forwards every other operation to moto.

pub mod sagemaker;
