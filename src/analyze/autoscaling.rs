//! HorizontalPodAutoscalers that cannot do their job. One sitting at minReplicas is fine.

use super::{Finding, Rule, Severity};
use crate::context::{Context, ObjectRef};

pub(super) fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for hpa in &ctx.hpas {
        let object = ObjectRef::of("HorizontalPodAutoscaler", &hpa.metadata);
        let conditions = hpa
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        let broken = conditions.iter().find(|c| {
            (c.type_ == "ScalingActive" || c.type_ == "AbleToScale") && c.status == "False"
        });
        let Some(cond) = broken else { continue };
        let target = hpa.spec.as_ref().map(|s| {
            format!(
                "{}/{}",
                s.scale_target_ref.kind.to_lowercase(),
                s.scale_target_ref.name
            )
        });
        let message = cond.message.clone().unwrap_or_default();
        let mut evidence = vec![format!(
            "{}=False ({}): {message}",
            cond.type_,
            cond.reason.as_deref().unwrap_or_default()
        )];
        evidence.extend(
            ctx.events_for(
                "HorizontalPodAutoscaler",
                object.namespace.as_deref(),
                &object.name,
            )
            .filter_map(|e| {
                Some(format!(
                    "event {}: {}",
                    e.reason.as_deref()?,
                    e.message.as_deref()?
                ))
            })
            .filter(|l| !l.ends_with(&message))
            .take(2),
        );
        let lower = message.to_lowercase();
        let target_name = target.clone().unwrap_or_else(|| "its target".into());
        let (summary, fix, severity) = if cond.type_ == "AbleToScale" {
            (
                format!("HPA {} cannot scale {target_name}", object.name),
                format!(
                    "Fix spec.scaleTargetRef of HPA {}: it must name an existing Deployment or StatefulSet in this namespace.",
                    object.name
                ),
                Severity::Error,
            )
        } else if lower.contains("missing request for") {
            let resource = if lower.contains("missing request for memory") {
                "memory"
            } else {
                "cpu"
            };
            (
                format!(
                    "HPA {} cannot compute utilization: pods of {target_name} have no {resource} request",
                    object.name
                ),
                format!(
                    "Set resources.requests.{resource} on every container of {target_name}; utilization is measured against requests."
                ),
                Severity::Warning,
            )
        } else if lower.contains("metrics.k8s.io")
            || lower.contains("resource metrics api")
            || lower.contains("metrics api")
        {
            (
                format!("HPA {} cannot get metrics, so {target_name} never scales", object.name),
                "Install metrics-server (minikube: `minikube addons enable metrics-server`) and check `kubectl top pods` answers.".to_string(),
                Severity::Warning,
            )
        } else {
            (
                format!("HPA {} cannot get metrics, so {target_name} never scales", object.name),
                "Check that the metric named in the HPA is served (`kubectl get --raw /apis/metrics.k8s.io/v1beta1` for resource metrics, the adapter's API for custom ones).".to_string(),
                Severity::Warning,
            )
        };
        out.push(Finding {
            causes: Vec::new(),
            caused_by: None,
            remedies: Vec::new(),
            rule: Rule::HpaMetrics,
            severity,
            object,
            summary,
            evidence,
            fix,
            pods: vec![],
        });
    }
    out
}
