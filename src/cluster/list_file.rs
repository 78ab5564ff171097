//! A Kubernetes List file read item by item from a window of its bytes.
//!
//! serde_json parses a slice several times faster than a reader (a reader is asked for one byte
//! at a time), but a snapshot's List of 10,000 pods is tens of megabytes: read whole, every file
//! in parse would be held at once. Here the file is read a megabyte at a time and each item is
//! parsed from the slice in hand; an item cut off by the window's end is parsed again once more
//! is read. Memory is the window and the kept items, CPU that of slice parsing.
//!
//! Only the List's own punctuation is read by hand (`{`, `"key":`, `[`, `,`, `]`, `}`); keys,
//! items and every other value are serde_json's. Anything unexpected answers [`Unread`], and the
//! caller reads the file with serde_json's reader instead, which either agrees or gives its own
//! exact error: this path only makes reading faster, never changes what is read.

use std::io::{self, Read};

use serde::de::{DeserializeOwned, IgnoredAny};

use super::item::ListItem;

/// How much of a file is read at a time.
const READ: usize = 1 << 20;

/// Why a file was not read here: its bytes, or something about it this reader leaves to
/// serde_json's.
pub(super) enum Unread {
    Io(io::Error),
    /// Not the plain shape of a List (or not JSON at all).
    Unusual,
}

impl From<io::Error> for Unread {
    fn from(e: io::Error) -> Self {
        Unread::Io(e)
    }
}

/// The items of the List in `src` that `keep` wants, each slimmed as it is parsed.
pub(super) fn items<T: DeserializeOwned + ListItem>(
    src: impl Read,
    keep: fn(&T) -> bool,
) -> Result<Vec<T>, Unread> {
    read(src, keep, READ)
}

fn read<T: DeserializeOwned + ListItem>(
    src: impl Read,
    keep: fn(&T) -> bool,
    chunk: usize,
) -> Result<Vec<T>, Unread> {
    let mut w = Window {
        src,
        chunk: chunk as u64,
        buf: Vec::new(),
        at: 0,
        done: false,
    };
    let mut items = Vec::new();
    w.expect(b'{')?;
    if w.peek()? == Some(b'}') {
        w.at += 1;
    } else {
        loop {
            let key: String = w.value()?;
            w.expect(b':')?;
            if key == "items" {
                items = w.items(keep)?;
            } else {
                w.value::<IgnoredAny>()?;
            }
            match w.next()? {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(Unread::Unusual),
            }
        }
    }
    // Only whitespace may follow, as serde_json's `end` requires.
    match w.next()? {
        None => Ok(items),
        Some(_) => Err(Unread::Unusual),
    }
}

struct Window<R> {
    src: R,
    /// How much is read at a time.
    chunk: u64,
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    at: usize,
    /// The source is exhausted.
    done: bool,
}

impl<R: Read> Window<R> {
    /// Drops what is read and appends up to a chunk more; false at the end of the source.
    fn more(&mut self) -> io::Result<bool> {
        if self.done {
            return Ok(false);
        }
        self.buf.drain(..self.at);
        self.at = 0;
        let n = (&mut self.src)
            .take(self.chunk)
            .read_to_end(&mut self.buf)?;
        self.done = n == 0;
        Ok(n > 0)
    }

    /// The next byte that is not JSON whitespace, left unread.
    fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            while let Some(&b) = self.buf.get(self.at) {
                if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                    return Ok(Some(b));
                }
                self.at += 1;
            }
            if !self.more()? {
                return Ok(None);
            }
        }
    }

    /// The next byte that is not JSON whitespace, read.
    fn next(&mut self) -> io::Result<Option<u8>> {
        let b = self.peek()?;
        if b.is_some() {
            self.at += 1;
        }
        Ok(b)
    }

    fn expect(&mut self, want: u8) -> Result<(), Unread> {
        match self.next()? {
            Some(b) if b == want => Ok(()),
            _ => Err(Unread::Unusual),
        }
    }

    /// The next JSON value, parsed from the window; read further while it is cut off.
    fn value<T: DeserializeOwned>(&mut self) -> Result<T, Unread> {
        loop {
            self.peek()?;
            let mut values =
                serde_json::Deserializer::from_slice(&self.buf[self.at..]).into_iter::<T>();
            match values.next() {
                // A number that ends the window may be cut off and still parse ("12" of "1234"):
                // a value is taken only when something follows it, or nothing can.
                Some(Ok(v)) if self.at + values.byte_offset() < self.buf.len() || self.done => {
                    self.at += values.byte_offset();
                    return Ok(v);
                }
                Some(Ok(_)) => {
                    self.more()?;
                }
                Some(Err(e)) if !e.is_eof() => return Err(Unread::Unusual),
                // Cut off, or nothing left but whitespace: more, unless there is no more.
                Some(Err(_)) | None => {
                    if !self.more()? {
                        return Err(Unread::Unusual);
                    }
                }
            }
        }
    }

    /// The `items` array, from its `[`.
    fn items<T: DeserializeOwned + ListItem>(
        &mut self,
        keep: fn(&T) -> bool,
    ) -> Result<Vec<T>, Unread> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        if self.peek()? == Some(b']') {
            self.at += 1;
            return Ok(out);
        }
        loop {
            let mut item: T = self.value()?;
            if keep(&item) {
                item.slim();
                out.push(item);
            }
            match self.next()? {
                Some(b',') => {}
                Some(b']') => return Ok(out),
                _ => return Err(Unread::Unusual),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn names(text: &str, window: usize) -> Result<Vec<String>, ()> {
        // Small windows cut items, keys and numbers at every position.
        let all = |_: &Pod| true;
        read(text.as_bytes(), all, window)
            .map(|pods| pods.iter().map(|p| p.key().1.to_string()).collect())
            .map_err(|_| ())
    }

    #[test]
    fn items_are_read_whatever_the_window_cuts() {
        let text = r#" {"kind": "PodList", "metadata": {"resourceVersion": "7", "n": 12345},
            "items": [{"metadata": {"name": "a", "managedFields": [{"manager": "kubelet"}]}},
                      {"metadata": {"name": "b\u00e9 \"q\""}} ], "apiVersion": "v1"}
        "#;
        for window in [1, 2, 3, 7, 64, 1 << 20] {
            assert_eq!(
                names(text, window).unwrap(),
                ["a", "bé \"q\""],
                "window {window}"
            );
        }
        assert_eq!(names("{}", 1).unwrap(), Vec::<String>::new());
        assert_eq!(names(r#"{"items": []}"#, 1).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn what_serde_json_would_refuse_or_read_otherwise_is_left_to_it() {
        for text in [
            "",
            "[]",
            r#"{"items": null}"#,
            r#"{"items": [{"metadata": {}},]}"#,
            r#"{"items": [], }"#,
            r#"{"items": [{"metadata": {"name": "a"}}"#,
            r#"{"items": []} x"#,
            r#"{"items": [{"metadata": 3}]}"#,
            r#"{"a" 1}"#,
        ] {
            for window in [1, 5, 1 << 20] {
                assert!(
                    names(text, window).is_err(),
                    "{text:?} in windows of {window}"
                );
            }
        }
    }
}
