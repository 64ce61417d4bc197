//! Paths into values: [`Value::get_path`], [`Value::set_path`], [`Value::walk`] and
//! [`Value::transform`].
//!
//! Steps follow [`PathStep`]: attributes into objects, keys into maps, indexes into lists, sets
//! (by position) and tuples. [`Value::Dynamic`] wrappers are looked through and count as one
//! position.

use super::{PathError, Value};
use crate::path::{AttributePath, PathStep};

/// The children of a value, each with the path step that leads to it. Sets are indexed by
/// position, since [`PathStep`] has no step for "the element equal to this value".
fn children(value: &Value) -> Vec<(PathStep, &Value)> {
    match value.unwrap_dynamic() {
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            items.iter().enumerate().map(|(i, v)| (PathStep::Index(i as i64), v)).collect()
        }
        Value::Map(entries) => entries.iter().map(|(k, v)| (PathStep::Key(k.clone()), v)).collect(),
        Value::Object(attrs) => attrs.iter().map(|(k, v)| (PathStep::Attr(k.clone()), v)).collect(),
        _ => Vec::new(),
    }
}

fn step_into<'v>(value: &'v Value, step: &PathStep) -> Option<&'v Value> {
    match (step, value.unwrap_dynamic()) {
        (PathStep::Attr(name), Value::Object(attrs)) => attrs.get(name),
        (PathStep::Key(key), Value::Map(entries)) => entries.get(key),
        (PathStep::Index(i), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
            items.get(usize::try_from(*i).ok()?)
        }
        _ => None,
    }
}

fn step_into_mut<'v>(value: &'v mut Value, step: &PathStep) -> Option<&'v mut Value> {
    match (step, value.unwrap_dynamic_mut()) {
        (PathStep::Attr(name), Value::Object(attrs)) => attrs.get_mut(name),
        (PathStep::Key(key), Value::Map(entries)) => entries.get_mut(key),
        (PathStep::Index(i), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
            items.get_mut(usize::try_from(*i).ok()?)
        }
        _ => None,
    }
}

impl Value {
    /// Calls `f` on this value and every value nested in it, parents before children, with the
    /// path of each: attributes as [`PathStep::Attr`], map keys as [`PathStep::Key`], list, set
    /// and tuple elements as [`PathStep::Index`]. [`Value::Dynamic`] wrappers are visited once
    /// (as the wrapper), their contents' children below them.
    pub fn walk(&self, mut f: impl FnMut(&AttributePath, &Value)) {
        fn go(value: &Value, path: &mut AttributePath, f: &mut dyn FnMut(&AttributePath, &Value)) {
            f(path, value);
            for (step, child) in children(value) {
                path.steps.push(step);
                go(child, path, f);
                path.steps.pop();
            }
        }
        go(self, &mut AttributePath::root(), &mut f);
    }

    /// Rebuilds the value bottom-up: every nested value is replaced by what `f` returns for it,
    /// children before their parent (which then sees its new children). Paths are as in
    /// [`walk`](Value::walk). The first error stops the transformation.
    ///
    /// ```
    /// # use tfplug::value::Value;
    /// // Every unknown becomes null.
    /// let v = Value::object([("a", Value::unknown()), ("b", Value::string("x"))]);
    /// let v = v.transform(|_, v| Ok::<_, ()>(if v.is_unknown() { Value::Null } else { v })).unwrap();
    /// assert_eq!(v, Value::object([("a", Value::Null), ("b", Value::string("x"))]));
    /// ```
    pub fn transform<E>(self, mut f: impl FnMut(&AttributePath, Value) -> Result<Value, E>) -> Result<Value, E> {
        transform_at(self, &mut AttributePath::root(), &mut f)
    }

    /// The value at `path`, if every step exists ([`PathStep::Attr`] into objects,
    /// [`PathStep::Key`] into maps, [`PathStep::Index`] into lists, sets and tuples).
    pub fn get_path(&self, path: &AttributePath) -> Option<&Value> {
        path.steps.iter().try_fold(self, step_into)
    }

    /// Mutable [`get_path`](Value::get_path).
    pub fn get_path_mut(&mut self, path: &AttributePath) -> Option<&mut Value> {
        path.steps.iter().try_fold(self, step_into_mut)
    }

    /// Replaces the value at `path` (the root path replaces `self`). Every step but the last
    /// must exist; the last may add an attribute to an object or a key to a map, but list
    /// indexes must exist.
    pub fn set_path(&mut self, path: &AttributePath, value: Value) -> Result<(), PathError> {
        let Some((last, parents)) = path.steps.split_last() else {
            *self = value;
            return Ok(());
        };
        let mut at = AttributePath::root();
        let mut parent = &mut *self;
        for step in parents {
            let kind = parent.kind();
            parent = step_into_mut(parent, step)
                .ok_or_else(|| PathError::new(&at, format!("no {} in this {kind}", describe_step(step))))?;
            at.steps.push(step.clone());
        }
        let kind = parent.kind();
        let missing = || PathError::new(&at, format!("no {} in this {kind}", describe_step(last)));
        match (last, parent.unwrap_dynamic_mut()) {
            (PathStep::Attr(name), Value::Object(attrs)) => {
                attrs.insert(name.clone(), value);
            }
            (PathStep::Key(key), Value::Map(entries)) => {
                entries.insert(key.clone(), value);
            }
            (PathStep::Index(i), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
                let slot = usize::try_from(*i).ok().and_then(|i| items.get_mut(i)).ok_or_else(missing)?;
                *slot = value;
            }
            _ => return Err(missing()),
        }
        Ok(())
    }
}

/// The transformer [`Value::transform`] calls.
type Transformer<'f, E> = dyn FnMut(&AttributePath, Value) -> Result<Value, E> + 'f;

/// Transforms the children of `value`, then `value` itself.
fn transform_at<E>(value: Value, path: &mut AttributePath, f: &mut Transformer<'_, E>) -> Result<Value, E> {
    let rebuilt = transform_children(value, path, f)?;
    f(path, rebuilt)
}

fn transform_children<E>(value: Value, path: &mut AttributePath, f: &mut Transformer<'_, E>) -> Result<Value, E> {
    let mut under = |step: PathStep, child: Value, path: &mut AttributePath| {
        path.steps.push(step);
        let out = transform_at(child, path, f);
        path.steps.pop();
        out
    };
    Ok(match value {
        // The wrapper is one position: its contents' children are transformed, not the contents.
        Value::Dynamic(ty, inner) => Value::Dynamic(ty, Box::new(transform_children(*inner, path, f)?)),
        Value::List(items) => Value::List(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| under(PathStep::Index(i as i64), v, path))
                .collect::<Result<_, _>>()?,
        ),
        Value::Set(items) => Value::Set(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| under(PathStep::Index(i as i64), v, path))
                .collect::<Result<_, _>>()?,
        ),
        Value::Tuple(items) => Value::Tuple(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| under(PathStep::Index(i as i64), v, path))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| Ok((k.clone(), under(PathStep::Key(k), v, path)?)))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(attrs) => Value::Object(
            attrs
                .into_iter()
                .map(|(k, v)| Ok((k.clone(), under(PathStep::Attr(k), v, path)?)))
                .collect::<Result<_, _>>()?,
        ),
        leaf => leaf,
    })
}

fn describe_step(step: &PathStep) -> String {
    match step {
        PathStep::Attr(name) => format!("attribute {name:?}"),
        PathStep::Key(key) => format!("key {key:?}"),
        PathStep::Index(i) => format!("element {i}"),
    }
}
