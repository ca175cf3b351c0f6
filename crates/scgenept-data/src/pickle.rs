//! A small reader for the Python pickles gene-embedding files are distributed as (GenePT,
//! scGenePT): `dict[str, numpy.ndarray]` (or lists of floats), protocols 2–5, written by numpy 1.x
//! (`numpy.core`) or 2.x (`numpy._core`). It interprets only the opcodes and the few globals such
//! files use; anything else is refused by name — a pickle never runs code here.

use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct PickleError {
    pub path: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    /// `numpy.core.multiarray._reconstruct(...)`, waiting for its BUILD state.
    PendingArray,
    /// numpy dtype: type code (`f8`) and byte order (`<`, `>`, `|`, `=`).
    Dtype(String, char),
    Array(Vec<usize>, Vec<f32>),
    Mark,
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<usize, Value>,
}

type R<T> = Result<T, String>;

impl<'a> Vm<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn le(&mut self, n: usize) -> R<u64> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0u64, |a, x| (a << 8) | *x as u64))
    }
    fn line(&mut self) -> R<String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("unterminated line")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }
    fn pop(&mut self) -> R<Value> {
        self.stack
            .pop()
            .ok_or_else(|| "stack underflow".to_string())
    }
    fn pop_mark(&mut self) -> R<Vec<Value>> {
        let i = self
            .stack
            .iter()
            .rposition(|v| *v == Value::Mark)
            .ok_or("MARK missing")?;
        let items = self.stack.split_off(i + 1);
        self.stack.pop();
        Ok(items)
    }
    fn top(&mut self) -> R<&mut Value> {
        self.stack
            .last_mut()
            .ok_or_else(|| "stack underflow".to_string())
    }
    fn str(&mut self, n: usize) -> R<()> {
        let b = self.take(n)?;
        let s = String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 string")?;
        self.stack.push(Value::Str(s));
        Ok(())
    }
    fn bytes(&mut self, n: usize) -> R<()> {
        let b = self.take(n)?.to_vec();
        self.stack.push(Value::Bytes(b));
        Ok(())
    }

    fn run(mut self) -> R<Value> {
        loop {
            let op = self.u8()?;
            if op == b'.' {
                return self.pop(); // STOP
            }
            let known = self.literal(op)?
                || self.memo_or_stack(op)?
                || self.container(op)?
                || self.object(op)?;
            if !known {
                return Err(format!(
                    "unsupported pickle opcode 0x{op:02x} at byte {}",
                    self.pos - 1
                ));
            }
        }
    }

    /// Framing, marks, empty containers, and literal ints, floats, strings and bytes.
    fn literal(&mut self, op: u8) -> R<bool> {
        match op {
            0x80 => drop(self.u8()?),             // PROTO
            0x95 => drop(self.take(8)?),          // FRAME
            b'(' => self.stack.push(Value::Mark), // MARK
            b'}' => self.stack.push(Value::Dict(vec![])),
            b']' => self.stack.push(Value::List(vec![])),
            b')' => self.stack.push(Value::Tuple(vec![])),
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'J' => {
                let v = self.le(4)? as u32 as i32 as i64;
                self.stack.push(Value::Int(v))
            }
            b'K' => {
                let v = self.u8()? as i64;
                self.stack.push(Value::Int(v))
            }
            b'M' => {
                let v = self.le(2)? as i64;
                self.stack.push(Value::Int(v))
            }
            0x8a => {
                // LONG1: little-endian two's complement
                let n = self.u8()? as usize;
                let b = self.take(n)?;
                if n > 8 {
                    return Err("integer too large".into());
                }
                let mut v: i64 = 0;
                for (i, x) in b.iter().enumerate() {
                    v |= (*x as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                self.stack.push(Value::Int(v))
            }
            b'G' => {
                let b = self.take(8)?;
                let v = f64::from_be_bytes(b.try_into().expect("8 bytes"));
                self.stack.push(Value::Float(v))
            }
            b'X' => {
                let n = self.le(4)? as usize;
                self.str(n)?
            }
            0x8c => {
                let n = self.u8()? as usize;
                self.str(n)?
            }
            0x8d => {
                let n = self.le(8)? as usize;
                self.str(n)?
            }
            b'T' | b'B' => {
                let n = self.le(4)? as usize;
                self.bytes(n)?
            }
            b'U' | b'C' => {
                let n = self.u8()? as usize;
                self.bytes(n)?
            }
            0x8e | 0x96 => {
                let n = self.le(8)? as usize;
                self.bytes(n)?
            }
            0x97 | 0x98 => return Err("out-of-band buffers are not supported".into()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The memo (PUT, GET, MEMOIZE) and plain stack operations (POP, POP_MARK, DUP).
    fn memo_or_stack(&mut self, op: u8) -> R<bool> {
        match op {
            0x94 => {
                let v = self.stack.last().cloned().ok_or("MEMOIZE on empty stack")?;
                let k = self.memo.len();
                self.memo.insert(k, v);
            }
            b'q' | b'r' | b'p' => {
                let k = match op {
                    b'q' => self.u8()? as usize,
                    b'r' => self.le(4)? as usize,
                    _ => self.line()?.trim().parse().map_err(|_| "bad PUT")?,
                };
                let v = self.stack.last().cloned().ok_or("PUT on empty stack")?;
                self.memo.insert(k, v);
            }
            b'h' | b'j' | b'g' => {
                let k = match op {
                    b'h' => self.u8()? as usize,
                    b'j' => self.le(4)? as usize,
                    _ => self.line()?.trim().parse().map_err(|_| "bad GET")?,
                };
                let v = self
                    .memo
                    .get(&k)
                    .cloned()
                    .ok_or("GET of unknown memo key")?;
                self.stack.push(v)
            }
            b'0' => drop(self.pop()?),
            b'1' => drop(self.pop_mark()?),
            b'2' => {
                let v = self.stack.last().cloned().ok_or("DUP on empty stack")?;
                self.stack.push(v)
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Building tuples, lists and dicts.
    fn container(&mut self, op: u8) -> R<bool> {
        match op {
            b't' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::Tuple(items))
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err("stack underflow".into());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.stack.push(Value::Tuple(items))
            }
            b'l' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::List(items))
            }
            b'd' => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.stack.push(Value::Dict(pairs))
            }
            b'a' => {
                let v = self.pop()?;
                match self.top()? {
                    Value::List(l) => l.push(v),
                    _ => return Err("APPEND to a non-list".into()),
                }
            }
            b'e' => {
                let items = self.pop_mark()?;
                match self.top()? {
                    Value::List(l) => l.extend(items),
                    _ => return Err("APPENDS to a non-list".into()),
                }
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                match self.top()? {
                    Value::Dict(d) => d.push((k, v)),
                    _ => return Err("SETITEM on a non-dict".into()),
                }
            }
            b'u' => {
                let items = pairs(self.pop_mark()?)?;
                match self.top()? {
                    Value::Dict(d) => d.extend(items),
                    _ => return Err("SETITEMS on a non-dict".into()),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Globals, REDUCE and BUILD (numpy arrays and the few classes `reduce`/`build` accept).
    fn object(&mut self, op: u8) -> R<bool> {
        match op {
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.stack.push(Value::Global(module, name))
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                    _ => return Err("STACK_GLOBAL needs two strings".into()),
                }
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let func = self.pop()?;
                let v = reduce(func, args)?;
                self.stack.push(v)
            }
            b'b' => {
                let state = self.pop()?;
                let obj = self.pop()?;
                let v = build(obj, state)?;
                self.stack.push(v)
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn pairs(items: Vec<Value>) -> R<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return Err("odd number of dict items".into());
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn is_numpy(module: &str, suffix: &str) -> bool {
    module == format!("numpy.core.{suffix}") || module == format!("numpy._core.{suffix}")
}

fn reduce(func: Value, args: Value) -> R<Value> {
    let Value::Global(module, name) = func else {
        return Err("REDUCE of a non-global".into());
    };
    let Value::Tuple(args) = args else {
        return Err(format!("{module}.{name}: arguments are not a tuple"));
    };
    match (module.as_str(), name.as_str()) {
        (m, "_reconstruct") if is_numpy(m, "multiarray") => Ok(Value::PendingArray),
        // A numpy scalar: `np.str_` inside lists of condition names (GEARS split pickles).
        (m, "scalar") if is_numpy(m, "multiarray") => match args.as_slice() {
            [Value::Dtype(code, _), Value::Bytes(b)] if code.starts_with('U') => {
                Ok(Value::Str(utf32_strings(b, b.len())?.remove(0)))
            }
            [Value::Dtype(code, _), Value::Bytes(b)] if code.starts_with('S') => Ok(Value::Str(
                String::from_utf8_lossy(b).trim_end_matches('\0').to_string(),
            )),
            _ => Err("numpy scalar of an unsupported dtype".into()),
        },
        ("numpy", "dtype") => match args.first() {
            Some(Value::Str(code)) => Ok(Value::Dtype(code.clone(), '=')),
            _ => Err("numpy.dtype without a type code".into()),
        },
        ("_codecs", "encode") => match args.first() {
            // Protocol 2 pickles bytes as latin-1 text.
            Some(Value::Str(s)) => Ok(Value::Bytes(s.chars().map(|c| c as u32 as u8).collect())),
            _ => Err("_codecs.encode without a string".into()),
        },
        ("builtins", "bytearray") | ("__builtin__", "bytearray") => match args.first() {
            Some(Value::Bytes(b)) => Ok(Value::Bytes(b.clone())),
            None => Ok(Value::Bytes(vec![])),
            _ => Err("bytearray of a non-bytes value".into()),
        },
        (m, "_frombuffer") if is_numpy(m, "numeric") => match args.as_slice() {
            [Value::Bytes(b), Value::Dtype(code, order), Value::Tuple(shape), Value::Str(o)] => {
                array(shape, code, *order, o == "F", b)
            }
            _ => Err("numpy _frombuffer with unexpected arguments".into()),
        },
        ("collections", "OrderedDict") => Ok(Value::Dict(vec![])),
        _ => Err(format!(
            "the pickle holds a {module}.{name} object; expected a dict of gene symbol → numpy array or list of floats"
        )),
    }
}

fn build(obj: Value, state: Value) -> R<Value> {
    match obj {
        Value::PendingArray => {
            let Value::Tuple(s) = state else {
                return Err("ndarray state is not a tuple".into());
            };
            match s.as_slice() {
                [_, Value::Tuple(shape), Value::Dtype(code, _), _, Value::Bytes(b)]
                    if code.starts_with('U') =>
                {
                    // A numpy unicode array (`<U15`): fixed-width UTF-32 cells.
                    let n: usize = shape
                        .iter()
                        .map(|v| match v {
                            Value::Int(i) if *i >= 0 => Ok(*i as usize),
                            _ => Err("bad array shape".to_string()),
                        })
                        .product::<R<usize>>()?;
                    if n == 0 {
                        return Ok(Value::List(vec![]));
                    }
                    let width = b.len() / n;
                    Ok(Value::List(
                        utf32_strings(b, width)?
                            .into_iter()
                            .map(Value::Str)
                            .collect(),
                    ))
                }
                [_, Value::Tuple(shape), Value::Dtype(code, order), Value::Bool(fortran), data] => {
                    match data {
                        Value::Bytes(b) => array(shape, code, *order, *fortran, b),
                        Value::List(_) => Err("object arrays are not supported".into()),
                        _ => Err("ndarray data is not bytes".into()),
                    }
                }
                _ => Err("unexpected ndarray state".into()),
            }
        }
        Value::Dtype(code, _) => match state {
            Value::Tuple(s) => match s.get(1) {
                Some(Value::Str(o)) => Ok(Value::Dtype(code, o.chars().next().unwrap_or('='))),
                _ => Ok(Value::Dtype(code, '=')),
            },
            _ => Ok(Value::Dtype(code, '=')),
        },
        d @ Value::Dict(_) => Ok(d),
        other => Err(format!("BUILD on unsupported object {other:?}")),
    }
}

fn array(shape: &[Value], code: &str, order: char, fortran: bool, b: &[u8]) -> R<Value> {
    let shape: Vec<usize> = shape
        .iter()
        .map(|v| match v {
            Value::Int(i) if *i >= 0 => Ok(*i as usize),
            _ => Err("bad array shape".to_string()),
        })
        .collect::<R<_>>()?;
    let big = order == '>';
    let conv = |c: &[u8]| -> f64 {
        let mut a = [0u8; 8];
        let n = c.len();
        a[..n].copy_from_slice(c);
        if big {
            a[..n].reverse();
        }
        match (code, n) {
            ("f8", _) => f64::from_le_bytes(a),
            ("f4", _) => f32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            ("f2", _) => half_to_f64(u16::from_le_bytes([a[0], a[1]])),
            ("i8", _) => i64::from_le_bytes(a) as f64,
            ("i4", _) => i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            _ => f64::NAN,
        }
    };
    let width = match code {
        "f8" | "i8" => 8,
        "f4" | "i4" => 4,
        "f2" => 2,
        _ => {
            return Err(format!(
                "arrays of dtype '{code}' are not supported (use float arrays)"
            ))
        }
    };
    let n: usize = shape.iter().product();
    if b.len() != n * width {
        return Err(format!(
            "array data has {} bytes, shape {shape:?} × {width} needs {}",
            b.len(),
            n * width
        ));
    }
    let mut data: Vec<f32> = b.chunks_exact(width).map(|c| conv(c) as f32).collect();
    if fortran && shape.len() == 2 {
        let (r, c) = (shape[0], shape[1]);
        data = (0..r * c).map(|i| data[(i % c) * r + i / c]).collect();
    }
    Ok(Value::Array(shape, data))
}

/// Decodes fixed-width UTF-32LE cells of `width` bytes (numpy `<U` data), dropping NUL padding.
fn utf32_strings(b: &[u8], width: usize) -> R<Vec<String>> {
    if width == 0 || !width.is_multiple_of(4) || !b.len().is_multiple_of(width) {
        return Err("malformed numpy unicode data".into());
    }
    b.chunks_exact(width)
        .map(|cell| {
            cell.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .take_while(|u| *u != 0)
                .map(|u| char::from_u32(u).ok_or_else(|| "invalid code point".to_string()))
                .collect::<R<String>>()
        })
        .collect()
}

fn half_to_f64(h: u16) -> f64 {
    let s = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let e = ((h >> 10) & 0x1f) as i32;
    let m = (h & 0x3ff) as f64;
    s * match e {
        0 => m * 2f64.powi(-24),
        31 => {
            if m == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        _ => (1.0 + m / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Reads a pickled `dict[str, vector]` (numpy arrays of shape `[d]` or `[1, d]`, or lists of
/// numbers) into `(symbol, vector)` pairs in file order.
pub fn read_embedding_pickle(path: &Path) -> Result<Vec<(String, Vec<f32>)>, PickleError> {
    let err = |reason: String| PickleError {
        path: path.display().to_string(),
        reason,
    };
    let data = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    parse_embedding_pickle(&data).map_err(err)
}

fn run_pickle(data: &[u8]) -> R<Value> {
    let vm = Vm {
        data,
        pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    vm.run().map_err(|e| format!("not a readable pickle: {e}"))
}

/// Strings, lists of strings and string-keyed dicts of those: what GEARS' split pickles hold.
#[derive(Clone, Debug, PartialEq)]
pub enum StringTree {
    Str(String),
    List(Vec<String>),
    Dict(Vec<(String, StringTree)>),
}

fn string_tree(v: Value) -> R<StringTree> {
    match v {
        Value::Str(s) => Ok(StringTree::Str(s)),
        Value::List(xs) | Value::Tuple(xs) => xs
            .into_iter()
            .map(|x| match x {
                Value::Str(s) => Ok(s),
                other => Err(format!("a list holds a non-string ({other:?})")),
            })
            .collect::<R<_>>()
            .map(StringTree::List),
        Value::Dict(items) => items
            .into_iter()
            .map(|(k, v)| match k {
                Value::Str(k) => Ok((k, string_tree(v)?)),
                other => Err(format!("a dict key is not a string ({other:?})")),
            })
            .collect::<R<_>>()
            .map(StringTree::Dict),
        other => Err(format!(
            "expected strings, lists and dicts, found {other:?}"
        )),
    }
}

/// Reads a pickle of nested string-keyed dicts and lists of strings (`str` or `numpy.str_`).
pub fn read_string_tree_pickle(path: &Path) -> Result<StringTree, PickleError> {
    let err = |reason: String| PickleError {
        path: path.display().to_string(),
        reason,
    };
    let data = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    run_pickle(&data).and_then(string_tree).map_err(err)
}

fn parse_embedding_pickle(data: &[u8]) -> R<Vec<(String, Vec<f32>)>> {
    let Value::Dict(items) = run_pickle(data)? else {
        return Err("the pickle is not a dict of gene symbol → vector".into());
    };
    items
        .into_iter()
        .map(|(k, v)| {
            let Value::Str(gene) = k else {
                return Err(format!("a key is not a gene symbol string: {k:?}"));
            };
            let vector = match v {
                Value::Array(shape, data)
                    if shape.len() == 1 || (shape.len() == 2 && shape[0] == 1) =>
                {
                    data
                }
                Value::Array(shape, _) => {
                    return Err(format!(
                        "'{gene}': array of shape {shape:?}, expected a vector"
                    ))
                }
                Value::List(xs) => xs
                    .iter()
                    .map(|x| match x {
                        Value::Float(f) => Ok(*f as f32),
                        Value::Int(i) => Ok(*i as f32),
                        _ => Err(format!("'{gene}': list holds a non-number")),
                    })
                    .collect::<R<_>>()?,
                other => {
                    return Err(format!(
                        "'{gene}': value is not an array or list ({other:?})"
                    ))
                }
            };
            Ok((gene, vector))
        })
        .collect()
}
