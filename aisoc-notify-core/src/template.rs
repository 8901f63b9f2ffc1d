//! Message templating for playbook parameters, on `minijinja`.
//!
//! Playbook parameters such as `message: "Host {{ context.host }} isolated"` are rendered
//! against the playbook context. The engine is strict: a variable that is not defined is an
//! error that names it, never an empty string in a message sent to a human. Output is not
//! HTML-escaped (adapters escape for their own format), and a fuel limit stops hostile templates
//! from looping for ever.

use std::sync::OnceLock;

use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};

/// The instruction budget for one render; generous for messages, fatal for runaway loops.
const FUEL_PER_RENDER: u64 = 200_000;

/// Why a template did not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template source is not valid template syntax.
    #[error("template syntax error: {detail}")]
    Syntax {
        /// What the parser reported, with line information.
        detail: String,
    },
    /// The template uses a variable the context does not define.
    #[error("template variable '{name}' is not defined")]
    UndefinedVariable {
        /// The dotted path of the missing variable (`context.host`).
        name: String,
    },
    /// The template used more than its instruction budget.
    #[error("template exceeded its rendering budget")]
    TooComplex,
    /// Rendering failed for another reason (a bad filter argument, a type error…).
    #[error("template could not render: {detail}")]
    Render {
        /// What the engine reported.
        detail: String,
    },
}

/// A configured template engine; cheap to share.
///
/// ```
/// use aisoc_notify_core::template::{TemplateEngine, TemplateError};
/// use serde_json::json;
///
/// let engine = TemplateEngine::new();
/// let vars = json!({"context": {"host": "web-01", "alert": {"title": "Beaconing"}}});
/// assert_eq!(
///     engine.render("{{ context.alert.title }} on {{ context.host }}", &vars).unwrap(),
///     "Beaconing on web-01"
/// );
/// assert_eq!(
///     engine.render("{{ context.user }}", &vars),
///     Err(TemplateError::UndefinedVariable { name: "context.user".into() })
/// );
/// ```
#[derive(Debug)]
pub struct TemplateEngine {
    env: Environment<'static>,
}

impl Default for TemplateEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl TemplateEngine {
    /// A strict engine without auto-escaping.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_fuel(Some(FUEL_PER_RENDER));
        Self { env }
    }

    /// A strict engine that passes every value it inserts through `escape`, while the
    /// template's own text stays as written. Adapters use it so that context values (an alert
    /// title chosen by an attacker, say) cannot inject markup such as a Slack `<!channel>`
    /// mention. A value marked `| safe` is inserted unescaped.
    ///
    /// ```
    /// use aisoc_notify_core::template::TemplateEngine;
    ///
    /// let engine = TemplateEngine::with_value_escaper(|s| s.replace('<', "&lt;").replace('>', "&gt;"));
    /// let vars = serde_json::json!({"title": "<!channel> pwned"});
    /// assert_eq!(
    ///     engine.render("<https://console/|Case>: {{ title }}", &vars).unwrap(),
    ///     "<https://console/|Case>: &lt;!channel&gt; pwned"
    /// );
    /// ```
    pub fn with_value_escaper(escape: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        let mut engine = Self::new();
        engine.env.set_formatter(move |out, _state, value| {
            let text = value.to_string();
            let written = if value.is_safe() { text } else { escape(&text) };
            out.write_str(&written).map_err(|_| {
                minijinja::Error::new(ErrorKind::WriteFailure, "could not write output")
            })
        });
        engine
    }

    /// The process-wide engine with the default settings.
    pub fn shared() -> &'static TemplateEngine {
        static SHARED: OnceLock<TemplateEngine> = OnceLock::new();
        SHARED.get_or_init(TemplateEngine::new)
    }

    /// Renders `source` with the top-level variables in `vars` (a JSON object).
    pub fn render(&self, source: &str, vars: &serde_json::Value) -> Result<String, TemplateError> {
        let template = self
            .env
            .template_from_str(source)
            .map_err(|e| TemplateError::Syntax {
                detail: e.to_string(),
            })?;
        template
            .render(Serde(vars))
            .map_err(|err| match err.kind() {
                ErrorKind::UndefinedError => {
                    let mut referenced: Vec<String> =
                        template.undeclared_variables(true).into_iter().collect();
                    referenced.sort();
                    match referenced.into_iter().find(|path| !is_defined(vars, path)) {
                        Some(name) => TemplateError::UndefinedVariable { name },
                        None => TemplateError::Render {
                            detail: err.to_string(),
                        },
                    }
                }
                ErrorKind::OutOfFuel => TemplateError::TooComplex,
                ErrorKind::SyntaxError => TemplateError::Syntax {
                    detail: err.to_string(),
                },
                _ => TemplateError::Render {
                    detail: err.to_string(),
                },
            })
    }

    /// Renders a playbook parameter: `context` in the template is the playbook context.
    pub fn render_with_context(
        &self,
        source: &str,
        context: &serde_json::Value,
    ) -> Result<String, TemplateError> {
        self.render(source, &serde_json::json!({ "context": context }))
    }
}

/// Whether a dotted path resolves to a value in a JSON document.
fn is_defined(vars: &serde_json::Value, dotted: &str) -> bool {
    dotted
        .split('.')
        .try_fold(vars, |value, segment| match value {
            serde_json::Value::Object(map) => map.get(segment),
            serde_json::Value::Array(items) => {
                segment.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            _ => None,
        })
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_first_missing_nested_variable() {
        let engine = TemplateEngine::new();
        let vars = json!({"context": {"alert": {"title": "x"}}});
        let err = engine.render(
            "{{ context.alert.title }} {{ context.alert.severity }}",
            &vars,
        );
        assert_eq!(
            err,
            Err(TemplateError::UndefinedVariable {
                name: "context.alert.severity".into()
            })
        );
        let err = engine.render("{{ missing_root }}", &vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template variable 'missing_root' is not defined"
        );
    }

    #[test]
    fn does_not_escape_html_and_supports_filters_and_conditionals() {
        let engine = TemplateEngine::new();
        let vars = json!({"context": {"host": "<web-01>", "tags": ["a", "b"]}});
        let out = engine
            .render(
                "{{ context.host }} {{ context.tags | join(',') }} {% if context.nope is defined %}x{% else %}y{% endif %}",
                &vars,
            )
            .unwrap();
        assert_eq!(out, "<web-01> a,b y");
    }

    #[test]
    fn syntax_errors_and_runaway_templates_are_typed() {
        let engine = TemplateEngine::new();
        assert!(matches!(
            engine.render("{{ unclosed", &json!({})),
            Err(TemplateError::Syntax { .. })
        ));
        let runaway =
            "{% for a in range(1000) %}{% for b in range(1000) %}{{ a }}{% endfor %}{% endfor %}";
        assert_eq!(
            engine.render(runaway, &json!({})),
            Err(TemplateError::TooComplex)
        );
    }

    #[test]
    fn render_with_context_wraps_the_playbook_context() {
        let out = TemplateEngine::shared()
            .render_with_context("Isolate {{ context.host }}", &json!({"host": "db-2"}))
            .unwrap();
        assert_eq!(out, "Isolate db-2");
    }
}
