import { openTestDatabase } from '../testing.js';
import { describeStateSuite } from './state-suite.js';

describeStateSuite('embedded PGlite', () => openTestDatabase());
