// Strict body validation: each mistake gets OpenAI's code and the exact field as `param`;
// legitimate OpenAI parameters and vLLM's extras pass.
import { describe, expect, it } from 'vitest'
import { errorOf } from '../helpers/errors.js'
import { validateChat } from '../../src/filters/validate-chat.js'
import { validateCompletion, validateEmbeddings } from '../../src/filters/validate-params.js'


const user = (content: unknown) => ({ role: 'user', content })
const chat = (extra: Record<string, unknown> = {}, messages: unknown[] = [user('hi')]) => ({ model: 'm', messages, ...extra })

describe('chat bodies that must pass', () => {
  it.each([
    ['plain conversation', chat({}, [{ role: 'system', content: 'be brief' }, { role: 'developer', content: 'x' }, user('hi'), { role: 'assistant', content: 'hello' }])],
    ['multimodal user parts', chat({}, [user([{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }, { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }, { type: 'file', file: { file_id: 'file-1' } }])])],
    ['vLLM media parts', chat({}, [user([{ type: 'video_url', video_url: { url: 'https://x/v.mp4' } }, { type: 'audio_url', audio_url: { url: 'https://x/a.wav' } }, { type: 'image_embeds', image_embeds: 'AAAA' }])])],
    ['tool round trip', chat({ tools: [{ type: 'function', function: { name: 'get_weather', description: 'w', parameters: { type: 'object', properties: {} }, strict: true } }], tool_choice: { type: 'function', function: { name: 'get_weather' } }, parallel_tool_calls: false }, [user('weather?'), { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'call_1', content: 'sunny' }])],
    ['assistant refusal and thinking parts', chat({}, [user('x'), { role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }, { type: 'thinking', thinking: 'hmm' }] }])],
    ['legacy functions', chat({ functions: [{ name: 'f', parameters: {} }], function_call: 'auto' }, [user('x'), { role: 'assistant', content: null, function_call: { name: 'f', arguments: '{}' } }, { role: 'function', name: 'f', content: '1' }])],
    ['every typed parameter at its bounds', chat({ temperature: 2, top_p: 0, n: 128, max_tokens: 1, max_completion_tokens: 10, presence_penalty: -2, frequency_penalty: 2, seed: -5, user: 'u', stop: ['a', 'b'], logit_bias: { '50256': -100 }, logprobs: true, top_logprobs: 20, stream: true, stream_options: { include_usage: true, continuous_usage_stats: true }, response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } }, reasoning_effort: 'low', modalities: ['text'], metadata: { a: 'b' }, store: false, service_tier: 'auto' })],
    ['null means not given', chat({ temperature: null, stop: null, tools: null, max_tokens: null })],
    ['vLLM extras pass untouched', chat({ top_k: 40, min_p: 0.1, repetition_penalty: 1.1, ignore_eos: true, min_tokens: 3, guided_json: { type: 'object' }, chat_template_kwargs: { enable_thinking: false }, response_format: { type: 'structural_tag', structures: [] } })],
    ['custom tools', chat({ tools: [{ type: 'custom', custom: { name: 'grammar' } }], tool_choice: 'required' })],
    ['a named custom tool choice', chat({ tools: [{ type: 'function', function: { name: 'f' } }, { type: 'custom', custom: { name: 'grammar' } }], tool_choice: { type: 'custom', custom: { name: 'grammar' } } })],
    ['assistant turns as clients echo them', chat({}, [user('x'), { role: 'assistant', content: '' }, { role: 'assistant', content: null, refusal: 'I cannot' }, { role: 'assistant', content: null, audio: { id: 'a1' } }, { role: 'assistant', content: null, tool_calls: [] }])],
    ['dependent parameters with what they depend on', chat({ stream: true, stream_options: null, logprobs: false, top_logprobs: 0 })],
    ['dependent parameters null', chat({ stream_options: null, top_logprobs: null })],
    ['four stop words', chat({ stop: ['a', 'b', 'c', 'd'] })],
    ['function names at the limits', chat({ tools: [{ type: 'function', function: { name: 'a' } }, { type: 'function', function: { name: `get-Weather_2${'x'.repeat(51)}` } }] })],
  ])('%s', (_name, body) => {
    expect(() => validateChat(body)).not.toThrow()
  })
})

describe('chat bodies that must fail, naming the field', () => {
  it.each([
    ['message not an object', chat({}, ['hi']), 'messages[0]', 'invalid_type'],
    ['missing role', chat({}, [{ content: 'x' }]), 'messages[0].role', 'missing_required_parameter'],
    ['unknown role', chat({}, [user('x'), { role: 'robot', content: 'x' }]), 'messages[1].role', 'invalid_value'],
    ['role not a string', chat({}, [{ role: 3, content: 'x' }]), 'messages[0].role', 'invalid_type'],
    ['user without content', chat({}, [{ role: 'user' }]), 'messages[0].content', 'missing_required_parameter'],
    ['content a number', chat({}, [user(42)]), 'messages[0].content', 'invalid_type'],
    ['empty content array', chat({}, [user([])]), 'messages[0].content', 'empty_array'],
    ['part without type', chat({}, [user('a'), user('b'), user([{ type: 'text', text: 'x' }, { text: 'y' }])]), 'messages[2].content[1].type', 'missing_required_parameter'],
    ['unknown part type', chat({}, [user('a'), user('b'), user([{ type: 'hologram' }])]), 'messages[2].content[0].type', 'invalid_value'],
    ['text part without text', chat({}, [user([{ type: 'text' }])]), 'messages[0].content[0].text', 'missing_required_parameter'],
    ['image_url as a string', chat({}, [user([{ type: 'image_url', image_url: 'http://x' }])]), 'messages[0].content[0].image_url', 'invalid_type'],
    ['image_url without url', chat({}, [user([{ type: 'image_url', image_url: {} }])]), 'messages[0].content[0].image_url.url', 'missing_required_parameter'],
    ['bad image detail', chat({}, [user([{ type: 'image_url', image_url: { url: 'u', detail: 'ultra' } }])]), 'messages[0].content[0].image_url.detail', 'invalid_value'],
    ['input_audio without format', chat({}, [user([{ type: 'input_audio', input_audio: { data: 'AAAA' } }])]), 'messages[0].content[0].input_audio.format', 'missing_required_parameter'],
    ['image in a system message', chat({}, [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'u' } }] }]), 'messages[0].content[0].type', 'invalid_value'],
    ['tool message without tool_call_id', chat({}, [user('x'), { role: 'tool', content: 'r' }]), 'messages[1].tool_call_id', 'missing_required_parameter'],
    ['tool call arguments not a string', chat({}, [user('x'), { role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: {} } }] }]), 'messages[1].tool_calls[0].function.arguments', 'invalid_type'],
    ['tool call of unknown type', chat({}, [user('x'), { role: 'assistant', tool_calls: [{ id: 'c', type: 'magic' }] }]), 'messages[1].tool_calls[0].type', 'invalid_value'],
    ['tools not an array', chat({ tools: { type: 'function' } }), 'tools', 'invalid_type'],
    ['tool without function', chat({ tools: [{ type: 'function' }] }), 'tools[0].function', 'missing_required_parameter'],
    ['tool function without name', chat({ tools: [{ type: 'function', function: { parameters: {} } }] }), 'tools[0].function.name', 'missing_required_parameter'],
    ['tool of unknown type', chat({ tools: [{ type: 'retrieval' }] }), 'tools[0].type', 'invalid_value'],
    ['bad tool_choice mode', chat({ tool_choice: 'always' }), 'tool_choice', 'invalid_value'],
    ['tool_choice naming a function without tools', chat({ tool_choice: { type: 'function', function: { name: 'f' } } }), 'tool_choice', 'invalid_value'],
    ['tool_choice naming a function not in tools', chat({ tools: [{ type: 'function', function: { name: 'g' } }, { type: 'custom', custom: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'f' } } }), 'tool_choice.function.name', 'invalid_value'],
    ['tool_choice naming a custom tool not in tools', chat({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'custom', custom: { name: 'f' } } }), 'tool_choice.custom.name', 'invalid_value'],
    ['name not a string', chat({}, [{ role: 'user', content: 'x', name: 7 }]), 'messages[0].name', 'invalid_type'],
    ['temperature above 2', chat({ temperature: 3 }), 'temperature', 'decimal_above_max_value'],
    ['temperature a string', chat({ temperature: 'hot' }), 'temperature', 'invalid_type'],
    ['top_p below 0', chat({ top_p: -0.1 }), 'top_p', 'decimal_below_min_value'],
    ['n zero', chat({ n: 0 }), 'n', 'integer_below_min_value'],
    ['n decimal', chat({ n: 1.5 }), 'n', 'invalid_type'],
    ['max_tokens zero', chat({ max_tokens: 0 }), 'max_tokens', 'integer_below_min_value'],
    ['max_completion_tokens a string', chat({ max_completion_tokens: '100' }), 'max_completion_tokens', 'invalid_type'],
    ['presence_penalty out of range', chat({ presence_penalty: 2.5 }), 'presence_penalty', 'decimal_above_max_value'],
    ['top_logprobs above 20', chat({ top_logprobs: 21 }), 'top_logprobs', 'integer_above_max_value'],
    ['stop list with a number', chat({ stop: ['a', 1] }), 'stop[1]', 'invalid_type'],
    ['logit_bias out of range', chat({ logit_bias: { '42': 150 } }), 'logit_bias.42', 'decimal_above_max_value'],
    ['stream_options.include_usage not boolean', chat({ stream_options: { include_usage: 'yes' } }), 'stream_options.include_usage', 'invalid_type'],
    ['unknown response_format', chat({ response_format: { type: 'xml' } }), 'response_format.type', 'invalid_value'],
    ['json_schema without schema object', chat({ response_format: { type: 'json_schema' } }), 'response_format.json_schema', 'missing_required_parameter'],
    ['logprobs not boolean', chat({ logprobs: 1 }), 'logprobs', 'invalid_type'],
    ['assistant with neither content nor tool calls', chat({}, [user('x'), { role: 'assistant' }]), 'messages[1].content', 'missing_required_parameter'],
    ['assistant with null content and nothing else', chat({}, [user('x'), { role: 'assistant', content: null, tool_calls: null }]), 'messages[1].content', 'missing_required_parameter'],
    ['stream_options without stream', chat({ stream_options: { include_usage: true } }), 'stream_options', 'invalid_request'],
    ['stream_options with stream false', chat({ stream: false, stream_options: { include_usage: true } }), 'stream_options', 'invalid_request'],
    ['top_logprobs without logprobs', chat({ top_logprobs: 3 }), 'top_logprobs', 'invalid_request'],
    ['top_logprobs with logprobs false', chat({ logprobs: false, top_logprobs: 3 }), 'top_logprobs', 'invalid_request'],
    ['logit_bias key a word', chat({ logit_bias: { hello: 5 } }), 'logit_bias', 'invalid_value'],
    ['logit_bias key negative', chat({ logit_bias: { '-1': 5 } }), 'logit_bias', 'invalid_value'],
    ['logit_bias key a decimal', chat({ logit_bias: { '1.5': 5 } }), 'logit_bias', 'invalid_value'],
    ['logit_bias below -100', chat({ logit_bias: { '42': -101 } }), 'logit_bias.42', 'decimal_below_min_value'],
    ['five stop words', chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop', 'array_above_max_length'],
    ['tool name with a dot', chat({ tools: [{ type: 'function', function: { name: 'fs.read' } }] }), 'tools[0].function.name', 'invalid_value'],
    ['tool name with a space', chat({ tools: [{ type: 'function', function: { name: 'ok' } }, { type: 'function', function: { name: 'get weather' } }] }), 'tools[1].function.name', 'invalid_value'],
    ['tool name over 64 characters', chat({ tools: [{ type: 'function', function: { name: 'x'.repeat(65) } }] }), 'tools[0].function.name', 'string_above_max_length'],
    ['legacy function name with a slash', chat({ functions: [{ name: 'a/b' }] }), 'functions[0].name', 'invalid_value'],
  ])('%s', (_name, body, param, code) => {
    expect(errorOf(() => validateChat(body))).toMatchObject({ param, code })
  })

  it('words its messages as OpenAI does', () => {
    expect(errorOf(() => validateChat(chat({ temperature: 3 }))).message).toBe(
      "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead."
    )
    expect(errorOf(() => validateChat(chat({}, [{ role: 'robot', content: 'x' }]))).message).toBe(
      "Invalid value for 'messages[0].role': 'robot'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool', and 'function'."
    )
    expect(errorOf(() => validateChat(chat({}, [user(42)]))).message).toBe(
      "Invalid type for 'messages[0].content': expected a string or an array of content parts, but got an integer instead."
    )
  })

  it('words the new checks as OpenAI does', () => {
    expect(errorOf(() => validateChat(chat({ tools: [{ type: 'function', function: { name: 'fs.read' } }] }))).message).toBe(
      "Invalid 'tools[0].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
    )
    expect(errorOf(() => validateChat(chat({ stream_options: { include_usage: true } }))).message).toBe(
      "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    )
    expect(errorOf(() => validateChat(chat({ logit_bias: { AI: 10 } }))).message).toBe(
      "Invalid key in 'logit_bias': AI. You should only be submitting non-negative integers."
    )
    expect(errorOf(() => validateChat(chat({ stop: ['a', 'b', 'c', 'd', 'e'] }))).message).toBe(
      "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length 5 instead."
    )
  })

  it('cuts long client values short in messages', () => {
    const { message } = errorOf(() => validateChat(chat({}, [{ role: 'x'.repeat(5000), content: 'x' }])))
    expect(message.length).toBeLessThan(300)
  })
})

describe('completions and embeddings', () => {
  it.each([
    [{ model: 'm', prompt: 'Once' }],
    [{ model: 'm', prompt: '' }],
    [{ model: 'm', prompt: ['a', 'b'], max_tokens: 0, echo: true, logprobs: 5, best_of: 2, suffix: '!' }],
    [{ model: 'm', prompt: [1, 2, 3] }],
    [{ model: 'm', prompt: [[1, 2], [3]] }],
    [{ model: 'm', prompt: 'x', stream: true, stream_options: { include_usage: true } }],
  ])('accepts completion %#', (body) => {
    expect(() => validateCompletion(body)).not.toThrow()
  })

  it.each([
    [{ model: 'm', prompt: 5 }, 'prompt', 'invalid_type'],
    [{ model: 'm', prompt: [] }, 'prompt', 'empty_array'],
    [{ model: 'm', prompt: ['a', 2] }, 'prompt[1]', 'invalid_type'],
    [{ model: 'm', prompt: [1, -2] }, 'prompt[1]', 'integer_below_min_value'],
    [{ model: 'm', prompt: [[1], []] }, 'prompt[1]', 'empty_array'],
    [{ model: 'm', prompt: 'x', max_tokens: -1 }, 'max_tokens', 'integer_below_min_value'],
    [{ model: 'm', prompt: 'x', echo: 'yes' }, 'echo', 'invalid_type'],
    [{ model: 'm', prompt: 'x', stream_options: { include_usage: true } }, 'stream_options', 'invalid_request'],
    [{ model: 'm', prompt: 'x', stop: ['1', '2', '3', '4', '5'] }, 'stop', 'array_above_max_length'],
  ])('refuses completion %#', (body, param, code) => {
    expect(errorOf(() => validateCompletion(body))).toMatchObject({ param, code })
  })

  it.each([
    [{ model: 'm', input: 'hello' }],
    [{ model: 'm', input: ['a', 'b'], encoding_format: 'base64', dimensions: 256 }],
    [{ model: 'm', input: [1, 2, 3] }],
  ])('accepts embeddings %#', (body) => {
    expect(() => validateEmbeddings(body)).not.toThrow()
  })

  it.each([
    [{ model: 'm', input: '' }, 'input', 'empty_string'],
    [{ model: 'm', input: ['a', ''] }, 'input[1]', 'empty_string'],
    [{ model: 'm', input: Array.from({ length: 2049 }, () => 'x') }, 'input', 'array_above_max_length'],
    [{ model: 'm', input: { text: 'x' } }, 'input', 'invalid_type'],
    [{ model: 'm', input: 'x', encoding_format: 'int8' }, 'encoding_format', 'invalid_value'],
    [{ model: 'm', input: 'x', dimensions: 0 }, 'dimensions', 'integer_below_min_value'],
  ])('refuses embeddings %#', (body, param, code) => {
    expect(errorOf(() => validateEmbeddings(body))).toMatchObject({ param, code })
  })
})
