//! The registry of templates a deployment accepts, and the templates bundled in the crate.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use aisoc_notify_core::inbox_template::InboxTemplate;

use super::{TemplateLoadError, YamlTemplate};

/// The templates a deployment accepts, by id.
#[derive(Clone, Default)]
pub struct TemplateRegistry {
    templates: HashMap<String, Arc<dyn InboxTemplate>>,
    /// The YAML templates among them, which the pipeline writes as JSON directly
    /// ([`YamlTemplate::write_json`]).
    yaml: HashMap<String, Arc<YamlTemplate>>,
}

impl std::fmt::Debug for TemplateRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.templates.keys().collect();
        ids.sort();
        f.debug_struct("TemplateRegistry")
            .field("templates", &ids)
            .finish()
    }
}

/// The templates shipped in the crate, as `(file name, YAML)`.
pub const BUNDLED: [(&str, &str); 11] = [
    (
        "generic-json.yaml",
        include_str!("../../templates/generic-json.yaml"),
    ),
    (
        "email-forwarded.yaml",
        include_str!("../../templates/email-forwarded.yaml"),
    ),
    (
        "pagerduty.yaml",
        include_str!("../../templates/pagerduty.yaml"),
    ),
    (
        "opsgenie.yaml",
        include_str!("../../templates/opsgenie.yaml"),
    ),
    (
        "cloudflare-logpush.yaml",
        include_str!("../../templates/cloudflare-logpush.yaml"),
    ),
    (
        "aws-eventbridge.yaml",
        include_str!("../../templates/aws-eventbridge.yaml"),
    ),
    ("aws-sns.yaml", include_str!("../../templates/aws-sns.yaml")),
    (
        "github-security-advisory.yaml",
        include_str!("../../templates/github-security-advisory.yaml"),
    ),
    (
        "microsoft-defender-email.yaml",
        include_str!("../../templates/microsoft-defender-email.yaml"),
    ),
    (
        "cef-syslog.yaml",
        include_str!("../../templates/cef-syslog.yaml"),
    ),
    (
        "splunk-hec.yaml",
        include_str!("../../templates/splunk-hec.yaml"),
    ),
];

impl TemplateRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bundled templates.
    pub fn bundled() -> Result<Self, TemplateLoadError> {
        let mut registry = Self::new();
        for (file, yaml) in BUNDLED {
            registry.add_yaml(Arc::new(YamlTemplate::from_yaml(
                &format!("<bundled:{file}>"),
                yaml,
            )?));
        }
        Ok(registry)
    }

    /// Adds every `*.yaml` / `*.yml` file of a directory; the first bad file stops loading.
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize, TemplateLoadError> {
        let entries = std::fs::read_dir(dir).map_err(|e| TemplateLoadError {
            file: dir.display().to_string(),
            field: "directory".into(),
            message: e.to_string(),
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        for path in &paths {
            self.add_yaml(Arc::new(YamlTemplate::from_file(path)?));
        }
        Ok(paths.len())
    }

    /// Adds (or replaces) a template, YAML or code. A YAML template added here is used
    /// through the trait; [`add_yaml`](Self::add_yaml) lets the pipeline write its events
    /// directly.
    pub fn add(&mut self, template: Arc<dyn InboxTemplate>) {
        let id = template.id().to_owned();
        self.yaml.remove(&id);
        self.templates.insert(id, template);
    }

    /// Adds (or replaces) a YAML template.
    pub fn add_yaml(&mut self, template: Arc<YamlTemplate>) {
        let id = template.id().to_owned();
        self.templates.insert(id.clone(), template.clone());
        self.yaml.insert(id, template);
    }

    /// Keeps only the listed template ids: the deployment's allow-list.
    pub fn allow_only(&mut self, ids: &[&str]) {
        self.templates.retain(|id, _| ids.contains(&id.as_str()));
        self.yaml.retain(|id, _| ids.contains(&id.as_str()));
    }

    /// A template by id.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn InboxTemplate>> {
        self.templates.get(id)
    }

    /// A YAML template by id, when the template with that id is one added as YAML.
    pub fn get_yaml(&self, id: &str) -> Option<&Arc<YamlTemplate>> {
        self.yaml.get(id)
    }

    /// The ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.templates.keys().cloned().collect();
        ids.sort();
        ids
    }
}
