import { runStoreConformance } from '../../testing/index.js';
import { MemoryStore } from './index.js';

runStoreConformance({ name: 'memory', createStore: () => new MemoryStore() });
