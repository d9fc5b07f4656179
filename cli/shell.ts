/**
 * `qapi-ts shell TARGET`: an interactive QMP shell (to be written).
 */
import { EXIT, type Command } from './command.js';

export const shellCommand: Command = {
  name: 'shell',
  synopsis: 'shell TARGET',
  help: 'usage: qapi-ts shell TARGET',
  run(_argv, io) {
    io.err('qapi-ts shell: not written yet\n');
    return EXIT.internal;
  },
};
