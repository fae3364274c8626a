// GET /api/info: which model the server really serves.
import type { ServerInfo } from '../types/api'
import { apiFetch } from './http'

export async function fetchServerInfo(apiKey: string | null): Promise<ServerInfo> {
  const response = await apiFetch('api/info', { apiKey })
  return (await response.json()) as ServerInfo
}
