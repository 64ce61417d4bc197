//! Schemas: the attributes and blocks of a provider, resource or data source, with their cty types
//! and markdown descriptions.
//!
//! ```
//! use tfplug::schema::{Attribute, Block, Schema};
//! use tfplug::value::Type;
//! let schema = Schema::new(0, Block::new("Builds a thing.")
//!     .attribute(Attribute::new("name", Type::String).required().description("The name."))
//!     .attribute(Attribute::new("id", Type::String).computed()));
//! assert_eq!(schema.block.attributes.len(), 2);
//! ```

use std::collections::BTreeMap;

use super::proto::tfplugin6 as pb;
use super::value::Type;

/// A versioned schema: the version drives UpgradeResourceState.
#[derive(Debug, Clone)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Self {
        Self { version, block }
    }

    /// The cty object type of values of this schema.
    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }

    pub fn to_proto(&self) -> pb::Schema {
        pb::Schema { version: self.version, block: Some(self.block.to_proto(self.version)) }
    }
}

/// A block: attributes plus nested blocks.
#[derive(Debug, Clone, Default)]
pub struct Block {
    pub description: String,
    pub deprecated: bool,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
}

impl Block {
    pub fn new(description: impl Into<String>) -> Self {
        Self { description: description.into(), ..Self::default() }
    }

    pub fn attribute(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }

    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }

    pub fn get_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    pub fn get_block(&self, name: &str) -> Option<&NestedBlock> {
        self.blocks.iter().find(|b| b.type_name == name)
    }

    /// The object type holding every attribute and block of this block.
    pub fn value_type(&self) -> Type {
        let mut fields = BTreeMap::new();
        for a in &self.attributes {
            fields.insert(a.name.clone(), a.value_type());
        }
        for b in &self.blocks {
            let inner = b.block.value_type();
            let ty = match b.nesting {
                Nesting::Single | Nesting::Group => inner,
                Nesting::List => Type::List(Box::new(inner)),
                Nesting::Set => Type::Set(Box::new(inner)),
                Nesting::Map => Type::Map(Box::new(inner)),
            };
            fields.insert(b.type_name.clone(), ty);
        }
        Type::Object(fields)
    }

    fn to_proto(&self, version: i64) -> pb::schema::Block {
        pb::schema::Block {
            version,
            attributes: self.attributes.iter().map(Attribute::to_proto).collect(),
            block_types: self.blocks.iter().map(NestedBlock::to_proto).collect(),
            description: self.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: self.deprecated,
        }
    }
}

/// How a nested block or nested attribute repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    Single,
    Group,
    List,
    Set,
    Map,
}

/// A nested block such as `endpoints { … }` or `timeouts { … }`.
#[derive(Debug, Clone)]
pub struct NestedBlock {
    pub type_name: String,
    pub block: Block,
    pub nesting: Nesting,
    pub min_items: i64,
    pub max_items: i64,
}

impl NestedBlock {
    /// A block that appears at most once (`nesting = SINGLE`).
    pub fn single(type_name: impl Into<String>, block: Block) -> Self {
        Self { type_name: type_name.into(), block, nesting: Nesting::Single, min_items: 0, max_items: 0 }
    }

    /// A block that may repeat, kept in order (`nesting = LIST`).
    pub fn list(type_name: impl Into<String>, block: Block) -> Self {
        Self { type_name: type_name.into(), block, nesting: Nesting::List, min_items: 0, max_items: 0 }
    }

    pub fn max_items(mut self, n: i64) -> Self {
        self.max_items = n;
        self
    }

    fn to_proto(&self) -> pb::schema::NestedBlock {
        use pb::schema::nested_block::NestingMode as M;
        let nesting = match self.nesting {
            Nesting::Single => M::Single,
            Nesting::Group => M::Group,
            Nesting::List => M::List,
            Nesting::Set => M::Set,
            Nesting::Map => M::Map,
        };
        pb::schema::NestedBlock {
            type_name: self.type_name.clone(),
            block: Some(self.block.to_proto(0)),
            nesting: nesting as i32,
            min_items: self.min_items,
            max_items: self.max_items,
        }
    }
}

/// Attributes nested inside an attribute (protocol 6 nested attributes).
#[derive(Debug, Clone)]
pub struct NestedObject {
    pub attributes: Vec<Attribute>,
    /// Set nesting is refused here: Terraform 1.0.3 crashes on null-vs-empty sets of objects.
    pub nesting: Nesting,
}

/// What an attribute holds: a plain cty type or nested attributes.
#[derive(Debug, Clone)]
pub enum AttrKind {
    Typed(Type),
    Nested(NestedObject),
}

/// One attribute of a block.
#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: String,
    pub kind: AttrKind,
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    pub deprecated: bool,
}

impl Attribute {
    pub fn new(name: impl Into<String>, ty: Type) -> Self {
        Self {
            name: name.into(),
            kind: AttrKind::Typed(ty),
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            deprecated: false,
        }
    }

    /// An attribute holding nested attributes (single, list or map nesting).
    pub fn nested(name: impl Into<String>, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        let mut a = Self::new(name, Type::Dynamic);
        a.kind = AttrKind::Nested(NestedObject { attributes, nesting });
        a
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }

    /// Computed and not settable: the provider alone decides its value.
    pub fn is_computed_only(&self) -> bool {
        self.computed && !self.optional && !self.required
    }

    /// The cty type of this attribute's value.
    pub fn value_type(&self) -> Type {
        match &self.kind {
            AttrKind::Typed(t) => t.clone(),
            AttrKind::Nested(obj) => {
                let inner = Type::Object(obj.attributes.iter().map(|a| (a.name.clone(), a.value_type())).collect());
                match obj.nesting {
                    Nesting::Single | Nesting::Group => inner,
                    Nesting::List => Type::List(Box::new(inner)),
                    Nesting::Set => Type::Set(Box::new(inner)),
                    Nesting::Map => Type::Map(Box::new(inner)),
                }
            }
        }
    }

    fn to_proto(&self) -> pb::schema::Attribute {
        // Terraform 1.0.3 panics when both `type` and `nested_type` are set: exactly one is.
        let (ty, nested_type) = match &self.kind {
            AttrKind::Typed(t) => (t.to_json_bytes(), None),
            AttrKind::Nested(obj) => {
                use pb::schema::object::NestingMode as M;
                let nesting = match obj.nesting {
                    Nesting::Single | Nesting::Group => M::Single,
                    Nesting::List => M::List,
                    Nesting::Set => M::Set,
                    Nesting::Map => M::Map,
                };
                let object = pb::schema::Object {
                    attributes: obj.attributes.iter().map(Attribute::to_proto).collect(),
                    nesting: nesting as i32,
                    min_items: 0,
                    max_items: 0,
                };
                (Vec::new(), Some(object))
            }
        };
        pb::schema::Attribute {
            name: self.name.clone(),
            r#type: ty,
            nested_type,
            description: self.description.clone(),
            required: self.required,
            optional: self.optional,
            computed: self.computed,
            sensitive: self.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: self.deprecated,
        }
    }
}
