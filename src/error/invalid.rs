//! Collecting every invalid field of a request, from domain parsing and
//! from `validator`, into one 400 answer.

/// 400 naming every field of `input` its `Validate` rules refuse.
pub fn validate<T: validator::Validate>(input: &T) -> Result<(), ApiError> {
    Invalid::validated(input).into_result()
}

/// The domain value of a field its `Validate` rule already accepted (the
/// rule is the same parse function): a refusal here is a bug, not bad input.
pub fn checked<T>(parsed: Result<T, DomainError>) -> Result<T, ApiError> {
    parsed.map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "a validated field did not parse: {}",
            e.code
        ))
    })
}

use super::{ApiError, InvalidParam};
use crate::domain::{DomainError, ErrorCode};

/// Collects every invalid field of a request before answering, so a client
/// fixes all of them in one round trip.
#[derive(Debug, Default)]
pub struct Invalid(Vec<InvalidParam>);

impl Invalid {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts with what `validator` finds wrong with `input` (its derived
    /// `Validate` rules); the caller adds the checks that produce values.
    pub fn validated<T: validator::Validate>(input: &T) -> Self {
        match input.validate() {
            Ok(()) => Self::default(),
            Err(errors) => Self(crate::http::validation::invalid_params(&errors)),
        }
    }

    /// Takes over the fields `inner` recorded, named under `prefix` (e.g.
    /// `child.`); true when it had none.
    pub fn absorb(&mut self, prefix: &str, inner: Invalid) -> bool {
        let clean = inner.0.is_empty();
        self.0.extend(inner.0.into_iter().map(|mut p| {
            p.name = format!("{prefix}{}", p.name);
            p
        }));
        clean
    }

    /// 400 with every recorded field, or `Ok` when there is none.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }

    /// Keeps the value, or records why the field is invalid.
    pub fn check<T>(&mut self, name: &str, result: Result<T, DomainError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(InvalidParam::new(name, e.code, e.reason));
                None
            }
        }
    }

    /// `check` for an optional input (a query filter, a PATCH field): an
    /// absent input stays `None`, a present one must parse.
    pub fn check_opt<I, T>(
        &mut self,
        name: &str,
        input: Option<I>,
        parse: impl FnOnce(I) -> Result<T, DomainError>,
    ) -> Option<Option<T>> {
        match input {
            None => Some(None),
            Some(i) => self.check(name, parse(i)).map(Some),
        }
    }

    pub fn push(&mut self, name: impl Into<String>, code: ErrorCode, reason: &str) {
        self.0.push(InvalidParam::new(name, code, reason));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// 400 with every recorded field, or all the checked values.
    pub fn finish<T: AllSome>(self, values: T) -> Result<T::Out, ApiError> {
        if !self.0.is_empty() {
            return Err(ApiError::validation(self.0));
        }
        values.all_some().ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "a checked field was neither valid nor recorded"
            ))
        })
    }
}

/// Tuples of options that are all `Some` after a successful validation.
pub trait AllSome {
    type Out;
    fn all_some(self) -> Option<Self::Out>;
}

macro_rules! all_some_tuple {
    ($($t:ident),+) => {
        impl<$($t),+> AllSome for ($(Option<$t>,)+) {
            type Out = ($($t,)+);
            #[allow(non_snake_case)]
            fn all_some(self) -> Option<Self::Out> {
                let ($($t,)+) = self;
                Some(($($t?,)+))
            }
        }
    };
}
all_some_tuple!(A);
all_some_tuple!(A, B);
all_some_tuple!(A, B, C);
all_some_tuple!(A, B, C, D);
all_some_tuple!(A, B, C, D, E);
all_some_tuple!(A, B, C, D, E, F);
all_some_tuple!(A, B, C, D, E, F, G);
all_some_tuple!(A, B, C, D, E, F, G, H);
