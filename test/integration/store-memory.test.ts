import { MemoryStore } from '../../src/index.js';
import { storeSuite } from './store-suite.js';

storeSuite('MemoryStore', async () => ({ store: new MemoryStore(), cleanup: async () => {} }));
