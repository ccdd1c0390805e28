// The fields routing depends on: checked before any filter, with the validator's codes and
// wording, and `null` meaning "not given".
import { describe, expect, it } from 'vitest'
import { errorOf } from '../helpers/errors.js'
import { checkRequiredFields } from '../../src/server/endpoints.js'


const messages = [{ role: 'user', content: 'hi' }]

describe('checkRequiredFields', () => {
  it('returns the model of a well-formed body; stream null is "not given"', () => {
    expect(checkRequiredFields('chat', { model: 'm', messages })).toBe('m')
    expect(checkRequiredFields('chat', { model: 'm', messages, stream: null })).toBe('m')
    expect(checkRequiredFields('completions', { model: 'm', prompt: 'x', stream: false })).toBe('m')
  })

  it.each([
    ['model absent', { messages }, 'model', 'missing_required_parameter', "Missing required parameter: 'model'."],
    ['model null', { model: null, messages }, 'model', 'missing_required_parameter', "Missing required parameter: 'model'."],
    ['model empty', { model: '', messages }, 'model', 'empty_string', "Invalid 'model': empty string. Expected a string with minimum length 1, but got an empty string instead."],
    ['model a number', { model: 7, messages }, 'model', 'invalid_type', "Invalid type for 'model': expected a string, but got an integer instead."],
    ['messages null', { model: 'm', messages: null }, 'messages', 'missing_required_parameter', "Missing required parameter: 'messages'."],
    ['messages a string', { model: 'm', messages: 'hi' }, 'messages', 'invalid_type', "Invalid type for 'messages': expected an array, but got a string instead."],
    ['messages empty', { model: 'm', messages: [] }, 'messages', 'empty_array', "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."],
    ['stream a string', { model: 'm', messages, stream: 'yes' }, 'stream', 'invalid_type', "Invalid type for 'stream': expected a boolean, but got a string instead."],
  ])('%s', (_name, body, param, code, message) => {
    expect(errorOf(() => checkRequiredFields('chat', body))).toEqual({ param, code, message })
  })
})
