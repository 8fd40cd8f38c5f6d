//! Prices and the cost of one request, in integers.
//!
//! Invariants:
//! - Prices are integer micro-USD per million tokens ([`ModelPrice`]); floats exist only while a
//!   configured USD price is converted (rounded to the nearest micro-USD per million tokens).
//! - Usage counts follow OpenAI's shape ([`TokenUsage`]): `cached_input` is a part of `input`
//!   and `reasoning` a part of `output`; counts outside those bounds are clamped, so no token is
//!   ever priced twice.
//! - Reasoning tokens cost the reasoning price when the model has one, else the output price.
//! - A request's cost is `ceil(sum(tokens × price) / 1_000_000)` micro-USD, computed exactly in
//!   `u128`: rounded up once per request, never per token class, so the ledger (a sum of
//!   per-request costs) holds exactly what the requests were charged.
//! - Lookup ([`PriceTable::price`]): the name is lower-cased and any `provider/` prefix dropped;
//!   then an exact entry, then the most specific matching glob (most literal characters), then
//!   the longest entry that is a prefix of the name followed by `-`, `:` or `@` (dated
//!   snapshots such as `gpt-4o-2024-08-06`). Unknown models have no price: the caller decides.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::glob::{glob_match, specificity};

/// One model's prices, micro-USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPrice {
    pub input: u64,
    pub cached_input: u64,
    pub output: u64,
    /// `None`: reasoning tokens cost the output price.
    pub reasoning: Option<u64>,
}

/// Token counts of one request (see the module's invariants).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// All prompt tokens, cached ones included.
    pub input: u64,
    /// The part of `input` read from the provider's prompt cache.
    pub cached_input: u64,
    /// All completion tokens, reasoning included.
    pub output: u64,
    /// The part of `output` spent reasoning.
    pub reasoning: u64,
}

const PER_MTOK: u128 = 1_000_000;

impl ModelPrice {
    /// The cost of `usage` at these prices, micro-USD, rounded up (saturating at `u64::MAX`).
    pub fn cost_micro_usd(&self, usage: &TokenUsage) -> u64 {
        let cached = usage.cached_input.min(usage.input);
        let uncached = usage.input - cached;
        let reasoning = usage.reasoning.min(usage.output);
        let (plain_output, reasoning_price) = match self.reasoning {
            Some(price) => (usage.output - reasoning, price),
            None => (usage.output, 0),
        };
        let reasoning = if self.reasoning.is_some() {
            reasoning
        } else {
            0
        };
        let scaled = u128::from(uncached) * u128::from(self.input)
            + u128::from(cached) * u128::from(self.cached_input)
            + u128::from(plain_output) * u128::from(self.output)
            + u128::from(reasoning) * u128::from(reasoning_price);
        u64::try_from(scaled.div_ceil(PER_MTOK)).unwrap_or(u64::MAX)
    }
}

/// A configured price (issue 14's `pricing` entries): USD per million tokens.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    pub input_per_mtok: f64,
    /// Default: the input price (no cache discount).
    #[serde(default)]
    pub cached_input_per_mtok: Option<f64>,
    pub output_per_mtok: f64,
    /// Default: reasoning tokens cost the output price.
    #[serde(default)]
    pub reasoning_per_mtok: Option<f64>,
}

/// Why a configured price was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("pricing.{model}.{field}: {value} is not a price in USD per million tokens (finite, 0 or more, at most 1000000)")]
pub struct PriceError {
    pub model: String,
    pub field: &'static str,
    pub value: f64,
}

fn usd_per_mtok_to_micro(model: &str, field: &'static str, value: f64) -> Result<u64, PriceError> {
    if !value.is_finite() || !(0.0..=1_000_000.0).contains(&value) {
        return Err(PriceError {
            model: model.to_owned(),
            field,
            value,
        });
    }
    // In range and finite: the cast cannot saturate.
    Ok((value * 1_000_000.0).round() as u64)
}

impl PriceConfig {
    /// The integer price, or which field is out of range.
    pub fn to_price(&self, model: &str) -> Result<ModelPrice, PriceError> {
        let input = usd_per_mtok_to_micro(model, "input_per_mtok", self.input_per_mtok)?;
        let cached_input = match self.cached_input_per_mtok {
            Some(v) => usd_per_mtok_to_micro(model, "cached_input_per_mtok", v)?,
            None => input,
        };
        let output = usd_per_mtok_to_micro(model, "output_per_mtok", self.output_per_mtok)?;
        let reasoning = self
            .reasoning_per_mtok
            .map(|v| usd_per_mtok_to_micro(model, "reasoning_per_mtok", v))
            .transpose()?;
        Ok(ModelPrice {
            input,
            cached_input,
            output,
            reasoning,
        })
    }
}

/// Prices by model name or glob.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    exact: BTreeMap<String, ModelPrice>,
    /// Glob entries, most specific first.
    globs: Vec<(String, ModelPrice)>,
}

/// `(name or glob, input, cached input, output)` in micro-USD per million tokens.
type BuiltinPrice = (&'static str, u64, u64, u64);

/// List prices as of 2026 (the providers' public price pages; the first tier where prices are
/// tiered by prompt length; USD per million tokens × 10⁶). They change: override any of them,
/// or add models, with `pricing` in the config.
const BUILTIN: &[BuiltinPrice] = &[
    // Moonshot (Kimi)
    ("kimi-k2", 600_000, 150_000, 2_500_000),
    ("kimi-k2-thinking", 600_000, 150_000, 2_500_000),
    ("kimi-k2-turbo-preview", 1_150_000, 150_000, 8_000_000),
    ("kimi-k2-thinking-turbo", 1_150_000, 150_000, 8_000_000),
    // Zhipu / Z.ai (GLM)
    ("glm-4.5", 600_000, 110_000, 2_200_000),
    ("glm-4.6", 600_000, 110_000, 2_200_000),
    ("glm-4.5-air", 200_000, 30_000, 1_100_000),
    // DeepSeek (V3.2 prices; both names serve it)
    ("deepseek-chat", 280_000, 28_000, 420_000),
    ("deepseek-reasoner", 280_000, 28_000, 420_000),
    // MiniMax
    ("minimax-m2", 300_000, 30_000, 1_200_000),
    // Qwen (Alibaba Cloud international, first tier)
    ("qwen3-coder-plus", 1_000_000, 100_000, 5_000_000),
    ("qwen3-max", 1_200_000, 240_000, 6_000_000),
    ("qwen-plus", 400_000, 80_000, 1_200_000),
    // OpenAI
    ("gpt-5", 1_250_000, 125_000, 10_000_000),
    ("gpt-5-codex", 1_250_000, 125_000, 10_000_000),
    ("gpt-5-mini", 250_000, 25_000, 2_000_000),
    ("gpt-5-nano", 50_000, 5_000, 400_000),
    ("gpt-4.1", 2_000_000, 500_000, 8_000_000),
    ("gpt-4.1-mini", 400_000, 100_000, 1_600_000),
    ("gpt-4o", 2_500_000, 1_250_000, 10_000_000),
    ("gpt-4o-mini", 150_000, 75_000, 600_000),
    ("o3", 2_000_000, 500_000, 8_000_000),
    ("o4-mini", 1_100_000, 275_000, 4_400_000),
    // Anthropic (cache reads; cache writes are not modelled)
    ("claude-opus-4-1", 15_000_000, 1_500_000, 75_000_000),
    ("claude-opus-4-5", 5_000_000, 500_000, 25_000_000),
    ("claude-sonnet-4", 3_000_000, 300_000, 15_000_000),
    ("claude-sonnet-4-5", 3_000_000, 300_000, 15_000_000),
    ("claude-haiku-4-5", 1_000_000, 100_000, 5_000_000),
];

/// The lookup form of a model name: lower case, without a `provider/` prefix.
fn normalize(model: &str) -> String {
    let bare = model.rsplit('/').next().unwrap_or(model);
    bare.to_ascii_lowercase()
}

impl PriceTable {
    /// A table with no prices.
    pub fn empty() -> Self {
        PriceTable::default()
    }

    /// The built-in list prices.
    pub fn builtin() -> Self {
        let mut table = PriceTable::empty();
        for &(name, input, cached_input, output) in BUILTIN {
            table.set(
                name,
                ModelPrice {
                    input,
                    cached_input,
                    output,
                    reasoning: None,
                },
            );
        }
        table
    }

    /// The built-in prices with the config's `pricing` entries over them (an entry replaces a
    /// built-in one of the same name).
    pub fn from_config(pricing: &BTreeMap<String, PriceConfig>) -> Result<Self, PriceError> {
        let mut table = PriceTable::builtin();
        for (model, config) in pricing {
            table.set(model, config.to_price(model)?);
        }
        Ok(table)
    }

    /// Sets the price of a model name or glob (`*` anywhere).
    pub fn set(&mut self, model: &str, price: ModelPrice) {
        let key = normalize(model);
        if key.contains('*') {
            self.globs.retain(|(p, _)| *p != key);
            self.globs.push((key, price));
            self.globs
                .sort_by(|(a, _), (b, _)| specificity(b).cmp(&specificity(a)).then(a.cmp(b)));
        } else {
            self.exact.insert(key, price);
        }
    }

    /// The price of `model` (see the module's lookup order).
    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        let name = normalize(model);
        if let Some(price) = self.exact.get(&name) {
            return Some(price);
        }
        if let Some((_, price)) = self.globs.iter().find(|(p, _)| glob_match(p, &name)) {
            return Some(price);
        }
        self.exact
            .iter()
            .filter(|(known, _)| {
                name.strip_prefix(known.as_str())
                    .and_then(|rest| rest.bytes().next())
                    .is_some_and(|c| matches!(c, b'-' | b':' | b'@'))
            })
            .max_by_key(|(known, _)| known.len())
            .map(|(_, price)| price)
    }

    /// The cost of `usage` on `model` in micro-USD, or `None` when the model has no price.
    pub fn cost_micro_usd(&self, model: &str, usage: &TokenUsage) -> Option<u64> {
        self.price(model).map(|price| price.cost_micro_usd(usage))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn usage(input: u64, cached_input: u64, output: u64, reasoning: u64) -> TokenUsage {
        TokenUsage {
            input,
            cached_input,
            output,
            reasoning,
        }
    }

    #[test]
    fn cost_is_exact_and_rounded_up_once() {
        let kimi = PriceTable::builtin().price("kimi-k2").copied().unwrap();
        // 1 M uncached input tokens at $0.60 = 600 000 µUSD exactly.
        assert_eq!(kimi.cost_micro_usd(&usage(1_000_000, 0, 0, 0)), 600_000);
        // 1 200 input of which 1 000 cached, 300 output:
        // 200×0.6 + 1000×0.15 + 300×2.5 = 120 + 150 + 750 = 1 020 µUSD exactly.
        assert_eq!(kimi.cost_micro_usd(&usage(1_200, 1_000, 300, 120)), 1_020);
        // One more output token: 2.5 µUSD more, rounded up once → 1 023, not 1 020 + 3.
        assert_eq!(kimi.cost_micro_usd(&usage(1_200, 1_000, 301, 0)), 1_023);
        // A single token is never free.
        assert_eq!(kimi.cost_micro_usd(&usage(1, 0, 0, 0)), 1);
        assert_eq!(kimi.cost_micro_usd(&usage(0, 0, 0, 0)), 0);
    }

    #[test]
    fn subsets_are_clamped_and_never_priced_twice() {
        let price = ModelPrice {
            input: 1_000_000,
            cached_input: 100_000,
            output: 2_000_000,
            reasoning: None,
        };
        // cached > input: all input is cached; reasoning without its own price is output.
        assert_eq!(
            price.cost_micro_usd(&usage(10, 50, 5, 5)),
            10 * 100_000 / 1_000_000 + 10
        );
        let with_reasoning = ModelPrice {
            reasoning: Some(3_000_000),
            ..price
        };
        // 5 output of which 2 reasoning: 3×2 + 2×3 = 12; reasoning > output clamps to output.
        assert_eq!(with_reasoning.cost_micro_usd(&usage(0, 0, 5, 2)), 12);
        assert_eq!(with_reasoning.cost_micro_usd(&usage(0, 0, 5, 9)), 15);
    }

    #[test]
    fn large_counts_do_not_overflow() {
        let price = ModelPrice {
            input: 1_000_000_000_000,
            cached_input: 0,
            output: 0,
            reasoning: None,
        };
        assert_eq!(price.cost_micro_usd(&usage(u64::MAX, 0, 0, 0)), u64::MAX);
    }

    #[test]
    fn lookup_order() {
        let mut table = PriceTable::builtin();
        let kimi = *table.price("kimi-k2").unwrap();
        assert_eq!(table.price("Moonshotai/Kimi-K2"), Some(&kimi));
        // A dated snapshot falls back to its family; the longest prefix wins.
        assert_eq!(table.price("gpt-4o-2024-08-06"), table.price("gpt-4o"));
        assert_eq!(
            table.price("gpt-4o-mini-2024-07-18"),
            table.price("gpt-4o-mini")
        );
        assert_eq!(table.price("kimi-k2-0905-preview"), Some(&kimi));
        assert_ne!(table.price("kimi-k2-thinking"), None);
        assert_eq!(table.price("MiniMax-M2"), table.price("minimax-m2"));
        // Not a prefix at a separator: a different model.
        assert_eq!(table.price("gpt-4oo"), None);
        assert_eq!(table.price("unknown-model"), None);
        // Globs: the most specific wins; an exact entry beats any glob.
        let cheap = ModelPrice {
            input: 1,
            cached_input: 1,
            output: 1,
            reasoning: None,
        };
        let cheaper = ModelPrice { input: 2, ..cheap };
        table.set("qwen*", cheap);
        table.set("qwen3-*", cheaper);
        assert_eq!(table.price("qwen3-coder-flash"), Some(&cheaper));
        assert_eq!(table.price("qwen2.5-72b"), Some(&cheap));
        assert_ne!(table.price("qwen3-coder-plus"), Some(&cheaper));
    }

    #[test]
    fn config_prices_override_and_convert_exactly() {
        let pricing: BTreeMap<String, PriceConfig> = serde_json::from_value(serde_json::json!({
            "kimi-k2": {"input_per_mtok": 0.55, "output_per_mtok": 2.2, "cached_input_per_mtok": 0.1375},
            "my-*": {"input_per_mtok": 1, "output_per_mtok": 2, "reasoning_per_mtok": 4.000001}
        }))
        .unwrap();
        let table = PriceTable::from_config(&pricing).unwrap();
        let kimi = table.price("kimi-k2").unwrap();
        assert_eq!(
            (kimi.input, kimi.cached_input, kimi.output),
            (550_000, 137_500, 2_200_000)
        );
        let mine = table.price("my-model").unwrap();
        assert_eq!(mine.cached_input, 1_000_000);
        assert_eq!(mine.reasoning, Some(4_000_001));
        assert_eq!(
            table.cost_micro_usd("my-model", &usage(0, 0, 1_000_000, 1_000_000)),
            Some(4_000_001)
        );
        let bad: BTreeMap<String, PriceConfig> = serde_json::from_value(
            serde_json::json!({"x": {"input_per_mtok": -1, "output_per_mtok": 1}}),
        )
        .unwrap();
        let err = PriceTable::from_config(&bad).unwrap_err();
        assert_eq!(err.field, "input_per_mtok");
        assert!(serde_json::from_value::<PriceConfig>(
            serde_json::json!({"input_per_mtok": 1, "output_per_mtok": 1, "cache": 1})
        )
        .is_err());
    }
}
