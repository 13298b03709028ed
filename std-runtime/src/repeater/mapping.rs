//! Upstream topics to local topics and back: renames (`rooms:lobby=lobby`) and prefix
//! rewrites (`rooms:*=remote:*`), looked up in the core's topic table (exact beats prefix,
//! the longest prefix wins). A topic no rule names keeps its name.

use std::fmt;

use fawkes_core::router::{Router64, RouterError};

/// The most mapping rules of one upstream.
pub const MAX_RULES: usize = 64;

/// One `FROM=TO` rule: both exact topics, or both prefixes ending in `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The upstream topic or prefix pattern.
    pub upstream: String,
    /// The local topic or prefix pattern.
    pub local: String,
}

impl std::str::FromStr for Rule {
    type Err = MappingError;

    /// `FROM=TO`, as given to `--map`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (upstream, local) = text
            .split_once('=')
            .ok_or_else(|| MappingError::Syntax(text.to_owned()))?;
        Ok(Rule {
            upstream: upstream.to_owned(),
            local: local.to_owned(),
        })
    }
}

/// Why a set of rules cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MappingError {
    /// Not `FROM=TO`.
    Syntax(String),
    /// One side is a prefix pattern and the other is not.
    Mismatched(String),
    /// Two rules map onto the same local pattern (the way back would be ambiguous).
    Duplicate(String),
    /// The topic table refused the pattern.
    Table(String, RouterError),
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MappingError::Syntax(text) => write!(f, "mapping {text:?} is not FROM=TO"),
            MappingError::Mismatched(text) => write!(
                f,
                "mapping {text:?}: both sides must be topics, or both prefixes ending in `*`"
            ),
            MappingError::Duplicate(local) => {
                write!(f, "two mappings map onto the local pattern {local:?}")
            }
            MappingError::Table(pattern, e) => write!(f, "mapping pattern {pattern:?}: {e}"),
        }
    }
}

impl std::error::Error for MappingError {}

/// The rules of one upstream, both ways.
#[derive(Debug, Default)]
pub(crate) struct Mapping {
    rules: Vec<Rule>,
    to_local: Box<Router64<u8>>,
    to_upstream: Box<Router64<u8>>,
}

impl Mapping {
    /// The table for `rules` (at most [`MAX_RULES`]).
    pub(crate) fn new(rules: Vec<Rule>) -> Result<Self, MappingError> {
        let mut mapping = Mapping {
            rules: Vec::new(),
            to_local: Box::default(),
            to_upstream: Box::default(),
        };
        for (index, rule) in rules.iter().enumerate() {
            let text = format!("{}={}", rule.upstream, rule.local);
            if rule.upstream.ends_with('*') != rule.local.ends_with('*') {
                return Err(MappingError::Mismatched(text));
            }
            let index = u8::try_from(index)
                .map_err(|_| MappingError::Table(text.clone(), RouterError::Full))?;
            let table = |pattern: &str, e| MappingError::Table(pattern.to_owned(), e);
            mapping
                .to_local
                .insert(&rule.upstream, index)
                .map_err(|e| table(&rule.upstream, e))?;
            if mapping
                .to_upstream
                .insert(&rule.local, index)
                .map_err(|e| table(&rule.local, e))?
                .is_some()
            {
                return Err(MappingError::Duplicate(rule.local.clone()));
            }
        }
        mapping.rules = rules;
        Ok(mapping)
    }

    /// The local topic an upstream topic is repeated on.
    pub(crate) fn to_local<'t>(&self, upstream: &'t str) -> std::borrow::Cow<'t, str> {
        self.rewrite(&self.to_local, upstream, |rule| {
            (&rule.upstream, &rule.local)
        })
    }

    /// The upstream topic a local topic comes from.
    pub(crate) fn to_upstream<'t>(&self, local: &'t str) -> std::borrow::Cow<'t, str> {
        self.rewrite(&self.to_upstream, local, |rule| {
            (&rule.local, &rule.upstream)
        })
    }

    fn rewrite<'t>(
        &self,
        table: &Router64<u8>,
        topic: &'t str,
        sides: impl Fn(&Rule) -> (&String, &String),
    ) -> std::borrow::Cow<'t, str> {
        let Some((_, &index)) = table.lookup(topic) else {
            return topic.into();
        };
        let Some(rule) = self.rules.get(usize::from(index)) else {
            return topic.into();
        };
        let (from, to) = sides(rule);
        match (from.strip_suffix('*'), to.strip_suffix('*')) {
            (Some(from_prefix), Some(to_prefix)) => {
                let rest = topic.get(from_prefix.len()..).unwrap_or_default();
                format!("{to_prefix}{rest}").into()
            }
            _ => to.clone().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Mapping, MappingError, Rule};

    fn mapping(rules: &[&str]) -> Result<Mapping, MappingError> {
        Mapping::new(rules.iter().map(|r| r.parse().unwrap()).collect())
    }

    #[test]
    fn renames_and_prefixes_both_ways() {
        let m = mapping(&["rooms:lobby=lobby", "rooms:*=remote:*"]).unwrap();
        assert_eq!(m.to_local("rooms:lobby"), "lobby");
        assert_eq!(m.to_local("rooms:42"), "remote:42");
        assert_eq!(m.to_local("other"), "other");
        assert_eq!(m.to_upstream("lobby"), "rooms:lobby");
        assert_eq!(m.to_upstream("remote:42"), "rooms:42");
        assert_eq!(m.to_upstream("remote:"), "rooms:");
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(matches!(
            "nope".parse::<Rule>(),
            Err(MappingError::Syntax(_))
        ));
        assert!(matches!(
            mapping(&["rooms:*=lobby"]),
            Err(MappingError::Mismatched(_))
        ));
        assert!(matches!(
            mapping(&["a=x", "b=x"]),
            Err(MappingError::Duplicate(_))
        ));
        assert!(matches!(
            mapping(&["a*b=x"]),
            Err(MappingError::Table(_, _))
        ));
    }

    #[test]
    fn no_rules_is_the_identity() {
        let m = mapping(&[]).unwrap();
        assert_eq!(m.to_local("rooms:lobby"), "rooms:lobby");
    }
}
