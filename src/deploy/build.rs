//! `deploy todo-app --build DIR`: build the app's images straight into a local cluster's runtime
//! with the exact tags the plan uses, so the kubelet finds them on the node. The commands are
//! shown and run only with consent, under the same rules as a plan.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::survey::{Flavour, Nodes};
use crate::error::Error;

/// One command to run, as it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub program: &'static str,
    pub args: Vec<String>,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.program)?;
        for a in &self.args {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+".contains(c));
            if plain {
                write!(f, " {a}")?;
            } else {
                write!(f, " '{}'", a.replace('\'', r"'\''"))?;
            }
        }
        Ok(())
    }
}

/// The app's components whose images are built from DIR/<component>, with the image each
/// Deployment runs in the plan.
pub(crate) fn app_images(objects: &[Value]) -> Vec<(&'static str, String)> {
    ["backend", "frontend"]
        .into_iter()
        .filter_map(|component| {
            let deployment = format!("todo-{component}");
            let image = objects
                .iter()
                .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == deployment)?
                .pointer("/spec/template/spec/containers")?
                .as_array()?
                .iter()
                .find(|c| c["name"] == component)?["image"]
                .as_str()?
                .to_string();
            Some((component, image))
        })
        .collect()
}

/// The commands that put each image into this cluster's runtime.
pub(crate) fn steps(
    nodes: &Nodes,
    dir: &Path,
    images: &[(&str, String)],
) -> Result<Vec<Step>, Error> {
    let mut steps = Vec::new();
    for (component, image) in images {
        let context = context_dir(dir, component)?;
        let s = |program, args: &[&str]| Step {
            program,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        match nodes.flavour {
            Flavour::Minikube => {
                let mut args = vec!["image", "build", "-t", image, &context];
                // Without --all, a multi-node cluster gets the image on its first node only.
                if nodes.count > 1 {
                    args.insert(2, "--all");
                }
                let mut step = s("minikube", &args);
                if let Some(p) = nodes.cluster_name.as_deref().filter(|p| *p != "minikube") {
                    step.args.splice(0..0, ["-p".to_string(), p.to_string()]);
                }
                steps.push(step);
            }
            Flavour::Kind => {
                steps.push(s("docker", &["build", "-t", image, &context]));
                let mut load = s("kind", &["load", "docker-image", image]);
                if let Some(n) = nodes.cluster_name.as_deref().filter(|n| *n != "kind") {
                    load.args.extend(["--name".to_string(), n.to_string()]);
                }
                steps.push(load);
            }
            Flavour::DockerDesktop => steps.push(s("docker", &["build", "-t", image, &context])),
            _ => return Err(elsewhere(&nodes.flavour, images)),
        }
    }
    Ok(steps)
}

fn context_dir(dir: &Path, component: &str) -> Result<String, Error> {
    let context: PathBuf = dir.join(component);
    if !context.join("Dockerfile").is_file() {
        return Err(Error::Usage(format!(
            "--build {}: no {}/Dockerfile there (DIR is the todo app's repository, holding frontend/ and backend/ with their Dockerfiles)",
            dir.display(),
            component
        )));
    }
    Ok(context.display().to_string())
}

fn elsewhere(flavour: &Flavour, images: &[(&str, String)]) -> Error {
    let names: Vec<&str> = images.iter().map(|(_, i)| i.as_str()).collect();
    Error::Usage(format!(
        "--build builds into minikube, kind or Docker Desktop, whose nodes can run local images; {flavour} pulls from registries: push {} to a registry it can pull from (docker build -t REGISTRY/todo-backend:TAG DIR/backend && docker push REGISTRY/todo-backend:TAG, and the same for the frontend), then deploy with --set backend.image=REGISTRY/todo-backend --set frontend.image=REGISTRY/todo-frontend --image-tag TAG",
        names.join(" and ")
    ))
}

/// What became of the build.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Built,
    /// `--dry-run` or `-o json|yaml` (which print the plan and change nothing): shown, not run.
    Shown,
    Declined,
}

/// Shows the commands, asks (or takes `--yes`), and runs them one by one with their output
/// streamed; the first failure stops everything. With `-o json|yaml` all of it goes to stderr, so
/// stdout holds only the data.
pub(crate) async fn run(
    steps: &[Step],
    yes: bool,
    dry_run: bool,
    data_on_stdout: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let mut stderr = std::io::stderr();
    let out: &mut dyn Write = if data_on_stdout { &mut stderr } else { out };
    writeln!(out, "Build the images into the cluster:")?;
    for s in steps {
        writeln!(out, "  {s}")?;
    }
    if dry_run {
        writeln!(
            out,
            "Not run (--dry-run, or a plan printed as data): nothing was built.\n"
        )?;
        return Ok(Outcome::Shown);
    }
    if !yes && !ask()? {
        writeln!(out, "Nothing was built or changed.")?;
        return Ok(Outcome::Declined);
    }
    for s in steps {
        writeln!(out, "$ {s}")?;
        out.flush()?;
        let mut cmd = std::process::Command::new(s.program);
        cmd.args(&s.args).stdin(std::process::Stdio::null());
        if data_on_stdout {
            cmd.stdout(std::io::stderr());
        }
        let status = tokio::task::spawn_blocking(move || cmd.status()).await?;
        let detail = match status {
            Ok(st) if st.success() => continue,
            Ok(st) => match st.code() {
                Some(c) => format!("exit status {c}"),
                None => "killed by a signal".into(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("{} is not installed or not on PATH", s.program)
            }
            Err(e) => e.to_string(),
        };
        return Err(Error::BuildFailed {
            command: s.to_string(),
            detail,
        }
        .into());
    }
    writeln!(out)?;
    Ok(Outcome::Built)
}

/// Consent on the terminal; without one, only `--yes` consents.
fn ask() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::NoConsent.into());
    }
    let answer: String = dialoguer::Input::new()
        .with_prompt("Run these commands? [y]es / [n]o")
        .allow_empty(true)
        .interact_text()
        .map_err(|_| Error::NoConsent)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(flavour: Flavour, name: &str, count: usize) -> Nodes {
        Nodes {
            flavour,
            cluster_name: Some(name.into()),
            count,
            images: Vec::new(),
        }
    }

    fn repo() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for c in ["backend", "frontend"] {
            std::fs::create_dir_all(d.path().join(c)).unwrap();
            std::fs::write(d.path().join(c).join("Dockerfile"), "FROM scratch\n").unwrap();
        }
        d
    }

    #[test]
    fn each_local_cluster_gets_its_own_commands_with_the_plans_tags() {
        let d = repo();
        let images = [("backend", "ghcr.io/example/todo-backend:2.0".to_string())];
        let line = |n: &Nodes| -> Vec<String> {
            steps(n, d.path(), &images)
                .unwrap()
                .iter()
                .map(|s| {
                    s.to_string()
                        .replace(&d.path().display().to_string(), "DIR")
                })
                .collect()
        };
        assert_eq!(
            line(&nodes(Flavour::Minikube, "minikube", 1)),
            ["minikube image build -t ghcr.io/example/todo-backend:2.0 DIR/backend"]
        );
        assert_eq!(
            line(&nodes(Flavour::Minikube, "dev", 2)),
            ["minikube -p dev image build --all -t ghcr.io/example/todo-backend:2.0 DIR/backend"]
        );
        assert_eq!(
            line(&nodes(Flavour::Kind, "ci", 1)),
            [
                "docker build -t ghcr.io/example/todo-backend:2.0 DIR/backend",
                "kind load docker-image ghcr.io/example/todo-backend:2.0 --name ci"
            ]
        );
        let err = steps(&nodes(Flavour::Other, "x", 1), d.path(), &images).unwrap_err();
        assert!(
            err.to_string()
                .contains("push ghcr.io/example/todo-backend:2.0 to a registry")
        );
        let err = steps(
            &nodes(Flavour::Kind, "kind", 1),
            Path::new("/nonexistent"),
            &images,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no backend/Dockerfile"), "{err}");
    }

    #[test]
    fn arguments_with_spaces_are_shown_quoted() {
        let s = Step {
            program: "docker",
            args: vec!["build".into(), "/home/me/my app/backend".into()],
        };
        assert_eq!(s.to_string(), "docker build '/home/me/my app/backend'");
    }
}
