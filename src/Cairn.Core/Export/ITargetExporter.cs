using Cairn.Core.State;
using Cairn.Core.Storage;

namespace Cairn.Core.Export;

/// <summary>A target change, for an exporter to apply (null Before: added; null After: removed).</summary>
public sealed record TargetChange(TargetRecord? Before, TargetRecord? After);

/// <summary>A live session on an exported target, as the exporter sees it.</summary>
/// <param name="Target">Target IQN.</param>
/// <param name="Initiator">Initiator name the session logged in with.</param>
/// <param name="Address">Initiator IP address (no port: tgt does not show it), when the exporter knows it.</param>
/// <param name="Since">When the session logged in, when the exporter knows it.</param>
public sealed record ExportSession(string Target, string Initiator, string? Address, DateTimeOffset? Since);

/// <summary>What an exporter needs from the rest of Cairn: the engine (devices, backing paths) and CHAP secrets.</summary>
public interface IExportContext
{
    /// <summary>The engine every pool is reached through.</summary>
    IVolumeEngine Engine { get; }

    /// <summary>The plain CHAP secret of a credential. Never log it.</summary>
    string OpenSecret(ChapCredential credential);
}

/// <summary>
/// Makes durable target records live: Cairn's own iSCSI target, or an external one (tgt). The target service commits
/// a change first and then hands it to the exporter through a queue (never inside a lock); a failed apply is retried,
/// and <see cref="ReconcileAsync"/> rebuilds the exporter's live state from the records at start and whenever the
/// exporter reports that it lost it (e.g. tgtd restarted). Implementations touch only targets Cairn created.
/// </summary>
public interface ITargetExporter : IAsyncDisposable
{
    /// <summary>"cairn", "tgt", …</summary>
    string Kind { get; }

    /// <summary>
    /// Checks, before anything is committed, that this exporter can export <paramref name="target"/> (e.g. tgt needs
    /// volumes with backing files); throws a <see cref="CairnException"/> that says why and what to do instead.
    /// </summary>
    Task ValidateAsync(TargetRecord target, CancellationToken ct) => Task.CompletedTask;

    /// <summary>Applies committed changes, in commit order. Must be idempotent: a retry may apply a change twice.</summary>
    Task ApplyAsync(IReadOnlyList<TargetChange> changes, CancellationToken ct);

    /// <summary>Makes the live state equal to <paramref name="targets"/> (all of Cairn's targets), leaving others' targets alone.</summary>
    Task ReconcileAsync(IReadOnlyList<TargetRecord> targets, CancellationToken ct);

    /// <summary>
    /// True when the exporter's live state may have been lost since the last apply or reconcile (an external daemon
    /// restarted); the export queue then reconciles. Checked about once a second, so it must be cheap.
    /// </summary>
    bool NeedsReconcile => false;

    /// <summary>Live sessions of one target (empty when none or unknown).</summary>
    IReadOnlyList<ExportSession> Sessions(string iqn);

    /// <summary>
    /// Ends the live sessions of one target (only those of <paramref name="initiator"/> when given), as an administrator
    /// logging them out; the initiators may log in again. Returns how many sessions were ended.
    /// </summary>
    Task<int> EndSessionsAsync(string iqn, string? initiator, CancellationToken ct);
}
