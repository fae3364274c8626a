// Starts `python -m pocketchat` on a free loopback port with the tiny test model, the MiniLM
// embedder (for the knowledge base, kept in a temporary DATA_DIR) and the built web app, waits
// for /api/health, and stops it again.
import { spawn, type ChildProcess } from 'node:child_process'
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const frontendDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const repoDir = path.resolve(frontendDir, '..')
const STARTUP_TIMEOUT_MS = 180_000

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      )
    })
  })
}

function required(file: string, hint: string): string {
  if (!existsSync(file)) throw new Error(`${file} is missing: ${hint}`)
  return file
}

async function waitForHealth(url: string, server: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (server.exitCode !== null) {
      throw new Error(`pocketchat exited (${server.exitCode}):\n${readFileSync(logFile, 'utf8')}`)
    }
    try {
      if ((await fetch(`${url}/api/health`)).status === 200) return
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`pocketchat did not become healthy:\n${readFileSync(logFile, 'utf8')}`)
}

function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => server.kill('SIGKILL'), 15_000)
    server.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    server.kill('SIGTERM')
  })
}

export interface RunningServer {
  url: string
  stop: () => Promise<void>
}

/** A live server; `extraEnv` adds to its environment (undefined removes a variable). */
export async function startServer(
  name: string,
  extraEnv: Record<string, string | undefined> = {},
): Promise<RunningServer> {
  const python = path.resolve(
    frontendDir,
    process.env.POCKETCHAT_PYTHON ?? path.join(repoDir, '.venv/bin/python'),
  )
  required(python, 'create the virtual environment with `make setup`')
  const model = required(
    path.resolve(repoDir, 'models/test/tiny.gguf'),
    'generate it with `make test-models`',
  )
  const embedder = required(
    path.resolve(repoDir, 'models/all-MiniLM-L6-v2.F16.gguf'),
    'generate it with `make test-models`',
  )
  // Never the repository's data/: every run starts with an empty knowledge base.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'pocketchat-e2e-'))
  const staticDir = path.join(frontendDir, 'dist')
  required(path.join(staticDir, 'index.html'), 'build the web app with `npm run build`')

  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const resultsDir = path.join(frontendDir, 'test-results')
  mkdirSync(resultsDir, { recursive: true })
  const logFile = path.join(resultsDir, `${name}.log`)
  const log = createWriteStream(logFile)
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    API_KEY: undefined,
    MODEL_PATH: model,
    EMBEDDING_MODEL_PATH: embedder,
    DATA_DIR: dataDir,
    KNOWLEDGE_DB_URL: undefined,
    HOST: '127.0.0.1',
    PORT: String(port),
    STATIC_DIR: staticDir,
    N_CTX: '16384',
    PARALLEL: '2',
    ...extraEnv,
  }
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key]
  const server = spawn(python, ['-m', 'pocketchat'], { cwd: repoDir, env, stdio: 'pipe' })
  server.stdout?.pipe(log)
  server.stderr?.pipe(log)

  const stopAndClean = async () => {
    await stop(server)
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    await waitForHealth(url, server, logFile)
  } catch (error) {
    await stopAndClean()
    throw error
  }
  return { url, stop: stopAndClean }
}
