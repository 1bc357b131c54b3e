/**
 * Growing a managed store's volumes (spec.<store>.managed.storage.size). A StatefulSet's claim
 * templates are immutable, so growth is done the way Kubernetes allows: when the StorageClass
 * allows expansion, each existing PVC is patched to the new size, then the StatefulSet is
 * re-created with the new template, orphaning (not deleting) its pods, so new replicas get the
 * new size too. Progress (volumes still resizing) and refusal (a class that cannot expand) are
 * reported in the store's condition.
 */
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { compareQuantities } from '../kube/quantity.ts';
import { Types } from '../kube/resources.ts';
import type { PartHealth } from './status.ts';

const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

interface ClaimTemplate {
  spec?: { storageClassName?: string; resources?: { requests?: { storage?: string } } };
}

const templateSize = (sts: KubeObject | undefined): string | undefined =>
  (sts?.spec as { volumeClaimTemplates?: ClaimTemplate[] } | undefined)?.volumeClaimTemplates?.[0]?.spec
    ?.resources?.requests?.storage;

const claimSize = (pvc: KubeObject, where: 'spec' | 'status'): string | undefined =>
  where === 'spec'
    ? (pvc.spec as ClaimTemplate['spec'])?.resources?.requests?.storage
    : (pvc.status as { capacity?: { storage?: string } } | undefined)?.capacity?.storage;

export interface ExpansionResult {
  /** The store's condition while volumes grow or when growth is refused; undefined when settled. */
  health?: PartHealth;
  /** The live StatefulSet was deleted (orphaning its pods) to be re-created with the new template. */
  recreating: boolean;
}

export class VolumeExpansion {
  readonly #client: KubeClient;
  /** Stores whose volumes were resizing at the last look: checked again until they are done. */
  readonly #resizing = new Set<string>();

  constructor(client: KubeClient) {
    this.#client = client;
  }

  /**
   * Compares the desired claim size with the live StatefulSet's and moves the volumes towards it.
   * `what` names the store for messages, `field` the spec field to point at.
   */
  async reconcile(
    desired: KubeObject,
    live: KubeObject | undefined,
    what: string,
    field: string,
    /** The last status said the volumes were resizing (progress survives an operator restart). */
    wasResizing = false,
  ): Promise<ExpansionResult> {
    const id = `${desired.metadata.namespace}/${desired.metadata.name}`;
    const want = templateSize(desired);
    const have = templateSize(live);
    if (!live || !want || !have) return { recreating: false };
    if (live.metadata.deletionTimestamp) {
      return {
        recreating: true,
        health: {
          status: 'Unknown',
          reason: 'VolumesResizing',
          message: `${what}: re-creating the StatefulSet with ${want} volumes`,
        },
      };
    }
    const grow = compareQuantities(want, have) > 0;
    if (compareQuantities(want, have) < 0) {
      return {
        recreating: false,
        health: {
          status: 'False',
          reason: 'VolumeShrinkNotSupported',
          stalled: true,
          message: `${what}: volumes are ${have} and cannot shrink to ${want}: set ${field} back to ${have} or more`,
        },
      };
    }
    if (!grow && !this.#resizing.has(id) && !wasResizing) return { recreating: false };

    const selector =
      (live.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels ?? {};
    const pvcs = (
      await this.#client.list(Types.PersistentVolumeClaim, desired.metadata.namespace, {
        labelSelector: Object.entries(selector)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      })
    ).items.filter((p) => p.metadata.name.startsWith(`data-${live.metadata.name}-`));

    if (grow) {
      const className =
        (live.spec as { volumeClaimTemplates?: ClaimTemplate[] }).volumeClaimTemplates?.[0]?.spec
          ?.storageClassName ??
        (pvcs[0]?.spec as ClaimTemplate['spec'])?.storageClassName ??
        (await this.defaultClassName());
      const sc = className
        ? await this.#client.getOrUndefined(Types.StorageClass, undefined, className)
        : undefined;
      if (!sc || (sc as { allowVolumeExpansion?: boolean }).allowVolumeExpansion !== true) {
        return {
          recreating: false,
          health: {
            status: 'False',
            reason: 'VolumeExpansionNotSupported',
            stalled: true,
            message: `${what}: ${field} grew from ${have} to ${want}, but StorageClass ${className ?? '(none)'} ${sc ? 'does not allow volume expansion (allowVolumeExpansion: true)' : 'does not exist'}: allow expansion on the class, or set ${field} back to ${have}`,
          },
        };
      }
      for (const pvc of pvcs) {
        const size = claimSize(pvc, 'spec');
        if (size && compareQuantities(size, want) >= 0) continue;
        try {
          await this.#client.mergePatch(
            Types.PersistentVolumeClaim,
            pvc.metadata.namespace,
            pvc.metadata.name,
            {
              spec: { resources: { requests: { storage: want } } },
            },
          );
        } catch (err) {
          return {
            recreating: false,
            health: {
              status: 'False',
              reason: 'VolumeExpansionFailed',
              message: `${what}: cannot grow volume ${pvc.metadata.name} to ${want}: ${(err as Error).message}`,
            },
          };
        }
      }
      // Claims patched: re-create the StatefulSet around its running pods with the new template.
      await this.#client.delete(Types.StatefulSet, live.metadata.namespace, live.metadata.name, {
        propagationPolicy: 'Orphan',
        ...(live.metadata.uid ? { uid: live.metadata.uid } : {}),
      });
      this.#resizing.add(id);
      return {
        recreating: true,
        health: {
          status: 'Unknown',
          reason: 'VolumesResizing',
          message: `${what}: growing ${pvcs.length} volume(s) to ${want}`,
        },
      };
    }
    const done = pvcs.filter((p) => {
      const cap = claimSize(p, 'status');
      return cap !== undefined && compareQuantities(cap, want) >= 0;
    }).length;
    if (done < pvcs.length) {
      return {
        recreating: false,
        health: {
          status: 'Unknown',
          reason: 'VolumesResizing',
          message: `${what}: ${done}/${pvcs.length} volume(s) resized to ${want}; the storage driver is expanding the rest`,
        },
      };
    }
    this.#resizing.delete(id);
    return { recreating: false };
  }

  private async defaultClassName(): Promise<string | undefined> {
    const classes = await this.#client.list(Types.StorageClass, undefined);
    return classes.items.find((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true')?.metadata
      .name;
  }
}
