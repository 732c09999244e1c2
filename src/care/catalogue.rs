//! The care-form catalogue: which forms of care a region contracts, each in
//! a segment (which gives its level) and under an iJw product category. It
//! is configuration, not data: regions differ, and an involvement copies the
//! segment and category it had when it was created, so a later change of the
//! catalogue never rewrites history.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::care::Segment;

/// The default catalogue, embedded so the binary runs from any directory.
const HOLLAND_RIJNLAND: &str = include_str!("../../config/care-forms/holland-rijnland.toml");

/// One form of care.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CareForm {
    #[schema(example = "ambulant_intensief")]
    pub code: String,
    #[schema(example = "Ambulante jeugdhulp, intensief (gezinsbehandeling)")]
    pub name: String,
    pub segment: Segment,
    /// Intensity level of the segment, 1 to 7; null for safety.
    pub level: Option<i16>,
    /// iJw product category (JZ020), e.g. `45` jeugdhulp ambulant.
    #[schema(example = "45")]
    pub product_category: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    region: String,
    care_forms: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    code: String,
    name: String,
    segment: String,
    product_category: String,
}

#[derive(Debug, Clone)]
pub struct Catalogue {
    pub region: String,
    forms: BTreeMap<String, CareForm>,
}

impl Catalogue {
    /// The configured file, or the embedded Holland Rijnland catalogue.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading care-form catalogue {}", path.display()))?;
                Self::parse(&text)
                    .with_context(|| format!("care-form catalogue {}", path.display()))
            }
            None => Self::parse(HOLLAND_RIJNLAND).context("embedded care-form catalogue"),
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: File = crate::config::toml_from_str(text)?;
        let mut forms = BTreeMap::new();
        for e in file.care_forms {
            let valid_code = !e.code.is_empty()
                && e.code.len() <= 64
                && e.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_code {
                bail!("care form code {:?}: use 1 to 64 of a-z, 0-9 and _", e.code);
            }
            let Some(segment) = Segment::parse(&e.segment) else {
                bail!("care form {}: unknown segment {:?}", e.code, e.segment);
            };
            if e.product_category.len() != 2
                || !e.product_category.bytes().all(|b| b.is_ascii_digit())
            {
                bail!(
                    "care form {}: product_category is 2 digits (iJw JZ020)",
                    e.code
                );
            }
            if e.name.trim().is_empty() {
                bail!("care form {}: name is empty", e.code);
            }
            let form = CareForm {
                code: e.code.clone(),
                name: e.name,
                segment,
                level: segment.level(),
                product_category: e.product_category,
            };
            if forms.insert(e.code.clone(), form).is_some() {
                bail!("care form {} appears twice", e.code);
            }
        }
        if forms.is_empty() {
            bail!("the catalogue has no care forms");
        }
        Ok(Self {
            region: file.region,
            forms,
        })
    }

    pub fn get(&self, code: &str) -> Option<&CareForm> {
        self.forms.get(code)
    }

    /// Forms in segment order, then by code.
    pub fn all(&self) -> Vec<&CareForm> {
        let mut all: Vec<&CareForm> = self.forms.values().collect();
        all.sort_by_key(|f| (f.level.unwrap_or(i16::MAX), f.code.clone()));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_catalogue_covers_every_segment() {
        let c = Catalogue::load(None).unwrap();
        assert_eq!(c.region, "Holland Rijnland");
        for segment in Segment::ALL {
            assert!(
                c.all().iter().any(|f| f.segment == *segment),
                "no care form in {segment}"
            );
        }
        let ots = c.get("ondertoezichtstelling").unwrap();
        assert_eq!((ots.segment, ots.level), (Segment::Safety, None));
        assert_eq!(c.get("pleegzorg").unwrap().level, Some(5));
    }

    #[test]
    fn broken_catalogues_are_refused() {
        let entry = |code: &str, segment: &str, cat: &str| {
            format!(
                "region = \"X\"\n[[care_forms]]\ncode = \"{code}\"\nname = \"N\"\nsegment = \"{segment}\"\nproduct_category = \"{cat}\"\n"
            )
        };
        assert!(Catalogue::parse(&entry("ok_form", "ambulant", "45")).is_ok());
        assert!(Catalogue::parse(&entry("Bad Code", "ambulant", "45")).is_err());
        assert!(Catalogue::parse(&entry("ok_form", "heavy", "45")).is_err());
        assert!(Catalogue::parse(&entry("ok_form", "ambulant", "4")).is_err());
        let twice = entry("a", "school", "45") + &entry("a", "school", "45")[13..];
        assert!(Catalogue::parse(&twice).is_err());
    }
}
