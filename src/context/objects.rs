//! Every object in the Context by kind, said once: target resolution, the LLM's `get_object` and
//! the prompt's "objects the question names" read the Context through [`Context::objects_of`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::{Context, ObjectRef, Pod};
use crate::cluster::kinds::{self, Kind};

macro_rules! objects {
    ($($variant:ident($ty:ty) = $field:ident, $kind:path;)*) => {
        /// One collected object with its full metadata. Secrets and ConfigMaps are not among
        /// them: the Context keeps only their keys.
        #[derive(Debug, Clone, Copy)]
        pub(crate) enum Object<'a> {
            $($variant(&'a $ty),)*
        }

        impl<'a> Object<'a> {
            pub(crate) fn kind(self) -> &'static str {
                match self {
                    $(Object::$variant(_) => $kind.kind,)*
                }
            }

            pub(crate) fn meta(self) -> &'a ObjectMeta {
                match self {
                    $(Object::$variant(o) => &o.metadata,)*
                }
            }

            /// The object as the API server returned it (as collected).
            pub(crate) fn to_value(self) -> Value {
                match self {
                    $(Object::$variant(o) => serde_json::to_value(o).unwrap_or(Value::Null),)*
                }
            }
        }

        impl Context {
            /// The collected objects of one kind, in collection order; none for a kind the
            /// Context does not hold as objects.
            pub(crate) fn objects_of(&self, kind: &Kind) -> Vec<Object<'_>> {
                $(if *kind == $kind {
                    return self.$field.iter().map(Object::$variant).collect();
                })*
                Vec::new()
            }
        }
    };
}

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Endpoints, Namespace, Node, PersistentVolume, PersistentVolumeClaim, ReplicationController,
    Service,
};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;

objects! {
    Namespace(Namespace) = namespaces, kinds::NAMESPACES;
    Node(Node) = nodes, kinds::NODES;
    Pod(Pod) = pods, kinds::PODS;
    Service(Service) = services, kinds::SERVICES;
    Endpoints(Endpoints) = endpoints, kinds::ENDPOINTS;
    Pvc(PersistentVolumeClaim) = pvcs, kinds::PVCS;
    ReplicationController(ReplicationController) = replication_controllers, kinds::REPLICATION_CONTROLLERS;
    Deployment(Deployment) = deployments, kinds::DEPLOYMENTS;
    ReplicaSet(ReplicaSet) = replica_sets, kinds::REPLICA_SETS;
    StatefulSet(StatefulSet) = stateful_sets, kinds::STATEFUL_SETS;
    DaemonSet(DaemonSet) = daemon_sets, kinds::DAEMON_SETS;
    Job(Job) = jobs, kinds::JOBS;
    CronJob(CronJob) = cron_jobs, kinds::CRON_JOBS;
    Ingress(Ingress) = ingresses, kinds::INGRESSES;
    NetworkPolicy(NetworkPolicy) = network_policies, kinds::NETWORK_POLICIES;
    Hpa(HorizontalPodAutoscaler) = hpas, kinds::HPAS;
    Pdb(PodDisruptionBudget) = pdbs, kinds::PDBS;
    Pv(PersistentVolume) = pvs, kinds::PVS;
    StorageClass(StorageClass) = storage_classes, kinds::STORAGE_CLASSES;
    IngressClass(IngressClass) = ingress_classes, kinds::INGRESS_CLASSES;
}

impl Object<'_> {
    pub(crate) fn reference(self) -> ObjectRef {
        ObjectRef::of(self.kind(), self.meta())
    }
}
