// Entry point: stores, UI language on <html lang>, stored conversations, the served model, and
// the service worker that keeps the app usable offline.
import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { applyDocumentLanguage } from './i18n'
import { useAppShellStore } from './stores/appShell'
import { useConversationsStore } from './stores/conversations'
import { useServerStore } from './stores/server'
import './styles/base.css'
import './styles/markdown.css'

applyDocumentLanguage()
const app = createApp(App).use(createPinia())
void useConversationsStore().init()
void useServerStore().loadInfo()
app.mount('#app')
useAppShellStore().start()
