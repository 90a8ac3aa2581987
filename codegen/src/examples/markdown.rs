//! The fenced code blocks of a docs page, each with the heading it sits under: all the
//! extraction needs from the Markdown (the docs' YFM dialect indents blocks inside tab lists).

/// One fenced code block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Block {
    /// The info string after the opening fence (`json`, `bash`, `php`, or empty).
    pub lang: String,
    /// The content, with the fence's indentation removed from every line.
    pub text: String,
    /// 1-based line number of the opening fence.
    pub line: usize,
    /// The text of the nearest heading above the block, without `#`s and `{#anchor}`.
    pub heading: String,
}

/// Every fenced block of `page`, in order. An unclosed block runs to the end of the page.
pub(crate) fn blocks(page: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut open: Option<(Block, usize)> = None;
    for (i, line) in page.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            Some((block, fence_indent)) => {
                if trimmed.starts_with("```") {
                    out.push(std::mem::take(block));
                    open = None;
                } else {
                    let strip = line
                        .bytes()
                        .take(*fence_indent)
                        .take_while(|b| *b == b' ' || *b == b'\t')
                        .count();
                    block.text.push_str(&line[strip..]);
                    block.text.push('\n');
                }
            }
            None if trimmed.starts_with("```") => {
                let lang = trimmed.trim_start_matches('`').trim();
                // A fence with text after a closing run of backticks on the same line
                // (```x```) is inline code, not a block.
                if lang.contains('`') {
                    continue;
                }
                let block = Block {
                    lang: lang.to_owned(),
                    text: String::new(),
                    line: i + 1,
                    heading: heading.clone(),
                };
                open = Some((block, indent));
            }
            None if indent == 0 && trimmed.starts_with('#') => {
                heading = heading_text(trimmed);
            }
            None => {}
        }
    }
    if let Some((block, _)) = open {
        out.push(block);
    }
    out
}

/// `## Returned Data {#result}` -> `Returned Data`.
fn heading_text(line: &str) -> String {
    let text = line.trim_start_matches('#').trim();
    let text = match text.find("{#") {
        Some(at) => &text[..at],
        None => text,
    };
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indented_blocks_keep_their_heading_and_lose_the_indent() {
        let page = "# T\n## Code Examples {#ex}\n\n- cURL\n\n    ```bash\n    curl -d '{}'\n      x\n    ```\n\n## Response\n```json\n{\"result\": 1}\n```\n";
        let b = blocks(page);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].lang.as_str(), b[0].line), ("bash", 6));
        assert_eq!(b[0].heading, "Code Examples");
        assert_eq!(b[0].text, "curl -d '{}'\n  x\n");
        assert_eq!(b[1].heading, "Response");
        assert_eq!(b[1].text, "{\"result\": 1}\n");
    }

    #[test]
    fn headings_inside_blocks_are_code() {
        let b = blocks("## A\n```bash\n# comment\n```\n```\nx\n```\n");
        assert_eq!(b[1].heading, "A");
    }
}
