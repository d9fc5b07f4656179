/**
 * `qapi-ts completion bash|zsh`: shell completion scripts (to be written).
 */
import { EXIT, type Command } from './command.js';

export const completionCommand: Command = {
  name: 'completion',
  synopsis: 'completion bash|zsh',
  help: 'usage: qapi-ts completion bash|zsh',
  run(_argv, io) {
    io.err('qapi-ts completion: not written yet\n');
    return EXIT.internal;
  },
};
