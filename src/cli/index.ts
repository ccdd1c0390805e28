// The `switchyard` command line: start | validate | init | sim | demo | usage | keys.
import { Command, InvalidArgumentError, Option } from 'commander'
import { durationArg, intArg, numberArg } from './args.js'
import { runDemo } from './demo.js'
import { runInit } from './init.js'
import { keysCommand } from './keys.js'
import { runSim } from './sim.js'
import { runStart } from './start.js'
import { runUsage, type ReportFormat } from './usage.js'
import { GROUP_BY, type GroupBy } from '../observability/usage-store.js'
import { runValidate } from './validate.js'
import { packageVersion } from './version.js'

const DEFAULT_CONFIG = 'switchyard.yaml'

const program = new Command()
  .name('switchyard')
  .description('Reverse proxy and gateway for OpenAI-compatible model servers')
  .showHelpAfterError()
  .version(packageVersion(), '-V, --version', 'print the version')

program
  .command('start')
  .description('run the gateway on a config file')
  .option('-c, --config <file>', 'config file', DEFAULT_CONFIG)
  .option('--no-watch', 'reload only on SIGHUP or POST /admin/config/reload, not when the file changes')
  .action((opts: { config: string; watch: boolean }) => runStart(opts.config, { watch: opts.watch }))

program
  .command('validate')
  .description('check a config file; exits 1 naming each bad field by its path')
  .option('-c, --config <file>', 'config file', DEFAULT_CONFIG)
  .action((opts: { config: string }) => runValidate(opts.config))

program
  .command('init')
  .description('write a commented starter config')
  .option('-c, --config <file>', 'where to write it', DEFAULT_CONFIG)
  .option('-f, --force', 'overwrite an existing file', false)
  .action((opts: { config: string; force: boolean }) => runInit(opts.config, opts.force))

program
  .command('sim')
  .description('run an OpenAI-compatible model-server simulator')
  .option('-p, --port <port>', 'port to listen on (0 = any free port)', intArg, 9001)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('-m, --model <name>', 'model id it serves', 'sim-model')
  .option('--ttft <duration>', 'time to first token', durationArg, 150)
  .option('--tokens-per-second <n>', 'generation speed (0 = as fast as possible)', numberArg, 50)
  .option('--max-concurrency <n>', 'requests generated at once; more wait in a queue (0 = no limit)', intArg, 0)
  .option('--seed <n>', 'seed for the deterministic text', intArg, 1)
  .option('--name <label>', 'instance label, returned as x-sim-name')
  .action(runSim)

program
  .command('demo', { isDefault: false })
  .description('start three simulators and the gateway in front of them (what `npm start` runs)')
  .option('-p, --port <port>', 'gateway port (0 = any free port)', intArg, 8080)
  .option('--sim-port <port>', 'first simulator port, three in a row (0 = any free ports)', intArg, 9001)
  .option('--admin-port <port>', 'admin API port (default: the gateway port + 1; 0 = any free port)', intArg)
  .option('--keys', 'require an API key; the demo makes one and prints it in the snippets', false)
  .action(runDemo)

function choiceArg<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of: ${choices.join(', ')}`)
    return value as T
  }
}

program
  .command('usage')
  .description('report requests, tokens, cost, error rate and time to first token from the usage store')
  .option('-c, --config <file>', 'config file (its usage section names the store)', DEFAULT_CONFIG)
  .option('--by <dimension>', 'group by key, model, upstream or day', choiceArg<GroupBy>(GROUP_BY), 'model')
  .addOption(new Option('--since <duration>', 'how far back, e.g. 1h, 24h, 7d').argParser(durationArg).default(86_400_000, '24h'))
  .option('--format <format>', 'table, json or csv', choiceArg<ReportFormat>(['table', 'json', 'csv']), 'table')
  .action((opts: { config: string; by: GroupBy; since: number; format: ReportFormat }, cmd: Command) =>
    runUsage({ ...opts, configGiven: cmd.getOptionValueSource('config') !== 'default' })
  )

program.addCommand(keysCommand(DEFAULT_CONFIG))

await program.parseAsync(process.argv)
