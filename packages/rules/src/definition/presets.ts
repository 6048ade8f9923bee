import type { Rule } from './schema.js';

/**
 * Rules shipped with Strata, enabled by name (`rules.presets`). Limits follow the seeds: the
 * sickle-cell crisis warning signs of seed 000 (fever ≥ 38.5 °C, SpO2 < 92 %, sustained
 * tachycardia, severe pain), NEWS2 for every patient, and the machine signs of seed 004
 * (overheating, vibration over ISO 10816 zone C for mid-size machines, an rpm drop), and the
 * predictive-maintenance alert of issue 9 on the scoring role's predictions.
 */
export const PRESETS: Readonly<Record<string, readonly Rule[]>> = {
  'sickle-cell': [
    {
      id: 'sickle-cell.fever',
      title: 'Fever (sickle-cell crisis warning)',
      description: 'Temperature at or above 38.5 °C: in sickle-cell disease a fever needs urgent assessment.',
      severity: 'high',
      scope: { kinds: ['patient'] },
      condition: { type: 'threshold', metric: 'temperature', op: '>=', value: 38.5, clear: { op: '<', value: 38, forSeconds: 300 }, escalate: [{ op: '>=', value: 39.5, severity: 'critical' }] },
    },
    {
      id: 'sickle-cell.desaturation',
      title: 'Low SpO2 (sickle-cell crisis warning)',
      description: 'SpO2 below 92 % (acute chest syndrome risk).',
      severity: 'high',
      scope: { kinds: ['patient'] },
      condition: { type: 'threshold', metric: 'spo2', op: '<', value: 92, forSeconds: 30, clear: { op: '>=', value: 94, forSeconds: 120 }, escalate: [{ op: '<', value: 88, severity: 'critical' }] },
    },
    {
      id: 'sickle-cell.tachycardia',
      title: 'Sustained tachycardia (sickle-cell crisis warning)',
      description: 'Heart rate above 120 /min for 5 minutes.',
      severity: 'high',
      scope: { kinds: ['patient'] },
      condition: { type: 'threshold', metric: 'heart_rate', op: '>', value: 120, forSeconds: 300, clear: { op: '<=', value: 110, forSeconds: 120 } },
    },
    {
      id: 'sickle-cell.pain',
      title: 'Severe pain reported (sickle-cell crisis warning)',
      description: 'A reported pain score of 7 or more out of 10 (metric pain_score, where devices report one).',
      severity: 'high',
      scope: { kinds: ['patient'] },
      condition: { type: 'threshold', metric: 'pain_score', op: '>=', value: 7, clear: { op: '<=', value: 4 } },
    },
  ],
  news2: [
    {
      id: 'news2',
      title: 'NEWS2 clinical deterioration',
      description: 'National Early Warning Score 2 from the latest readings; severity from the clinical response level.',
      scope: { kinds: ['patient'] },
      condition: { type: 'news2', minLevel: 'low' },
    },
  ],
  machine: [
    {
      id: 'machine.overheat',
      title: 'Machine overheating',
      severity: 'high',
      scope: { kinds: ['machine'] },
      condition: { type: 'threshold', metric: 'temperature', op: '>', value: 85, forSeconds: 30, clear: { op: '<', value: 80, forSeconds: 60 }, escalate: [{ op: '>', value: 95, severity: 'critical' }] },
    },
    {
      id: 'machine.vibration',
      title: 'Vibration over limit',
      description: 'RMS vibration velocity above 4.5 mm/s (ISO 10816 zone C, class II machines).',
      severity: 'high',
      scope: { kinds: ['machine'] },
      condition: { type: 'threshold', metric: 'vibration', op: '>', value: 4.5, forSeconds: 30, clear: { op: '<', value: 4, forSeconds: 60 }, escalate: [{ op: '>', value: 7.1, severity: 'critical' }] },
    },
    {
      id: 'machine.rpm-drop',
      title: 'Rotation speed drop',
      description: 'rpm fell by 200 or more within a minute.',
      severity: 'medium',
      scope: { kinds: ['machine'] },
      condition: { type: 'rate', metric: 'rpm', windowSeconds: 60, op: '<=', value: -200, clear: { op: '>', value: -50, forSeconds: 60 } },
    },
  ],
  'predictive-maintenance': [
    {
      id: 'machine-failure-predicted',
      title: 'Machine failure predicted',
      description: 'The failure model gives the machine a failure probability of 0.5 or more: plan maintenance. Resolves once it is below 0.3 for 10 minutes.',
      severity: 'high',
      scope: { kinds: ['machine'] },
      condition: { type: 'prediction', minProbability: 0.5, clear: { below: 0.3, forSeconds: 600 } },
    },
  ],
};
