//! The string form of label selectors, as `kubectl -l` and the list
//! request's `label_selector` take them (Kubernetes' `labels.Parse`):
//! comma-separated requirements, all of which must hold.
//!
//! | requirement | meaning |
//! | --- | --- |
//! | `a=b`, `a==b` | label `a` is `b` |
//! | `a!=b` | label `a` is absent or not `b` |
//! | `a in (b,c)` | label `a` is `b` or `c` |
//! | `a notin (b,c)` | label `a` is absent or neither `b` nor `c` |
//! | `a` | label `a` is present |
//! | `!a` | label `a` is absent |
//!
//! The empty string selects everything.

use std::collections::BTreeMap;

use crate::selector::{LabelSelector, LabelSelectorRequirement, SelectorOperator};
use crate::validate::meta::validate_requirement;
use crate::validate::{FieldErrors, FieldPath};

/// A selector string that does not parse, or names invalid keys or values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectorError {
    /// The text is not of the selector grammar.
    #[error("unable to parse label selector {selector:?}: found {found}, expected {expected}")]
    Syntax {
        /// The whole selector.
        selector: String,
        /// What stands where something else was expected (`"x"`, `end of
        /// string`).
        found: String,
        /// What may stand there.
        expected: &'static str,
    },
    /// The text parses, but a key or value is not valid; each error names
    /// the requirement (`labelSelector[0]`, counting from the left).
    #[error("invalid label selector {selector:?}: {errors}")]
    Invalid {
        /// The whole selector.
        selector: String,
        /// What is wrong, field by field.
        errors: FieldErrors,
    },
}

/// The field path invalid requirements are reported at.
const PATH: &str = "labelSelector";

/// One token of the selector text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Not,
    Equals,
    NotEquals,
    Comma,
    Open,
    Close,
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("{w:?}"),
            Token::Not => "\"!\"".to_owned(),
            Token::Equals => "\"=\"".to_owned(),
            Token::NotEquals => "\"!=\"".to_owned(),
            Token::Comma => "\",\"".to_owned(),
            Token::Open => "\"(\"".to_owned(),
            Token::Close => "\")\"".to_owned(),
            Token::End => "end of string".to_owned(),
        }
    }
}

/// Splits the text into tokens: `!`, `=`, `==`, `!=`, `,`, `(`, `)` and
/// words (anything else between white space and those).
fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            '!' if chars.next_if_eq(&'=').is_some() => Token::NotEquals,
            '!' => Token::Not,
            '=' => {
                chars.next_if_eq(&'=');
                Token::Equals
            }
            ',' => Token::Comma,
            '(' => Token::Open,
            ')' => Token::Close,
            c => {
                let mut word = c.to_string();
                while let Some(n) = chars.next_if(|n| !is_special(*n)) {
                    word.push(n);
                }
                Token::Word(word)
            }
        };
        out.push(token);
    }
    out.push(Token::End);
    out
}

fn is_special(c: char) -> bool {
    c.is_whitespace() || matches!(c, '!' | '=' | ',' | '(' | ')')
}

/// A requirement as written, before validation.
struct Parsed {
    requirement: LabelSelectorRequirement,
    /// Written `a=b` (goes to `matchLabels` when it can).
    equals: bool,
}

/// Reads tokens left to right.
struct Parser<'a> {
    text: &'a str,
    tokens: std::iter::Peekable<std::vec::IntoIter<Token>>,
}

impl Parser<'_> {
    fn next(&mut self) -> Token {
        self.tokens.next().unwrap_or(Token::End)
    }

    fn error(&self, found: &Token, expected: &'static str) -> SelectorError {
        SelectorError::Syntax {
            selector: self.text.to_owned(),
            found: found.describe(),
            expected,
        }
    }

    /// One requirement and the token after it (`,` or the end).
    fn requirement(&mut self) -> Result<(Parsed, Token), SelectorError> {
        let first = self.next();
        let (absent, key) = match first {
            Token::Not => (true, self.next()),
            other => (false, other),
        };
        let Token::Word(key) = key else {
            return Err(self.error(&key, "a label key"));
        };
        let req = |operator, values| LabelSelectorRequirement {
            key: key.clone(),
            operator,
            values,
        };
        let after = self.next();
        if absent {
            let parsed = req(SelectorOperator::DoesNotExist, Vec::new());
            return Ok((plain(parsed), after));
        }
        let (requirement, equals) = match &after {
            Token::Comma | Token::End => {
                return Ok((plain(req(SelectorOperator::Exists, Vec::new())), after));
            }
            Token::Equals => (req(SelectorOperator::In, self.value()?), true),
            Token::NotEquals => (req(SelectorOperator::NotIn, self.value()?), false),
            Token::Word(w) if w == "in" => (req(SelectorOperator::In, self.set()?), false),
            Token::Word(w) if w == "notin" => (req(SelectorOperator::NotIn, self.set()?), false),
            other => {
                return Err(self.error(
                    other,
                    "one of \"=\", \"==\", \"!=\", \"in\", \"notin\", \",\" or end of string",
                ));
            }
        };
        Ok((
            Parsed {
                requirement,
                equals,
            },
            self.next(),
        ))
    }

    /// The value after `=` or `!=` (may be empty: `a=`).
    fn value(&mut self) -> Result<Vec<String>, SelectorError> {
        let is_word = |t: &Token| matches!(t, Token::Word(_));
        if let Some(Token::Word(w)) = self.tokens.next_if(is_word) {
            return Ok(vec![w]);
        }
        match self.tokens.peek().cloned().unwrap_or(Token::End) {
            Token::Comma | Token::End => Ok(vec![String::new()]),
            other => Err(self.error(&other, "a label value")),
        }
    }

    /// The values of `in (...)` or `notin (...)`.
    fn set(&mut self) -> Result<Vec<String>, SelectorError> {
        let open = self.next();
        if open != Token::Open {
            return Err(self.error(&open, "\"(\""));
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Token::Close if values.is_empty() => return Ok(values),
                Token::Word(w) => values.push(w),
                other => return Err(self.error(&other, "a label value")),
            }
            match self.next() {
                Token::Comma => {}
                Token::Close => return Ok(values),
                other => return Err(self.error(&other, "\",\" or \")\"")),
            }
        }
    }
}

fn plain(requirement: LabelSelectorRequirement) -> Parsed {
    Parsed {
        requirement,
        equals: false,
    }
}

/// Parses a selector string into a [`LabelSelector`]: `a=b` becomes a
/// `matchLabels` entry (an `In` expression when `a` is already there), the
/// other forms `matchExpressions` in the order written. Keys must be
/// qualified names and values label values, as in manifests.
pub fn parse(text: &str) -> Result<LabelSelector, SelectorError> {
    if text.trim().is_empty() {
        return Ok(LabelSelector::default());
    }
    let mut parser = Parser {
        text,
        tokens: tokens(text).into_iter().peekable(),
    };
    let mut written = Vec::new();
    loop {
        let (parsed, after) = parser.requirement()?;
        written.push(parsed);
        match after {
            Token::End => break,
            Token::Comma => {}
            other => return Err(parser.error(&other, "\",\" or end of string")),
        }
    }
    let mut errors = FieldErrors::new();
    let path = FieldPath::new(PATH);
    for (i, p) in written.iter().enumerate() {
        validate_requirement(&p.requirement, &path.index(i), &mut errors);
    }
    if !errors.is_empty() {
        return Err(SelectorError::Invalid {
            selector: text.to_owned(),
            errors,
        });
    }
    Ok(assemble(written))
}

/// The selector of requirements that validated.
fn assemble(written: Vec<Parsed>) -> LabelSelector {
    let mut match_labels = BTreeMap::new();
    let mut match_expressions = Vec::new();
    for Parsed {
        mut requirement,
        equals,
    } in written
    {
        if equals && !match_labels.contains_key(&requirement.key) {
            let value = requirement.values.pop().unwrap_or_default();
            match_labels.insert(requirement.key, value);
        } else {
            match_expressions.push(requirement);
        }
    }
    LabelSelector {
        match_labels,
        match_expressions,
    }
}
