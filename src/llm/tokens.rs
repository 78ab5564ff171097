//! Token counting, for every budget: the prompt's evidence and the tool definitions beside it.

use async_openai::types::chat::ChatCompletionTools;

/// Counts tokens the way OpenAI's current models do (o200k_base). Other models tokenize
/// differently, but within a few percent; the budget is a budget of these tokens.
pub fn count(text: &str) -> usize {
    tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(text)
        .len()
}

/// What tool definitions cost: providers count them as prompt tokens, so the budget does too
/// (counted as the JSON that is sent; a provider's own rendering differs by a few tokens).
pub(crate) fn of_tools(definitions: &[ChatCompletionTools]) -> usize {
    if definitions.is_empty() {
        return 0;
    }
    serde_json::to_string(definitions).map_or(0, |s| count(&s))
}
