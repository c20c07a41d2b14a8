namespace Cairn.Engine.Zfs;

/// <summary>Settings of a <see cref="ZfsEngine"/>.</summary>
public sealed class ZfsEngineOptions
{
    /// <summary>The <c>zfs</c> program (a name on PATH or a full path).</summary>
    public string Zfs { get; init; } = "zfs";

    /// <summary>The <c>zpool</c> program.</summary>
    public string Zpool { get; init; } = "zpool";

    /// <summary>
    /// Independent operations of one batch run this many <c>zfs</c> commands at once. zfs-fuse serves each command on
    /// its own thread; on a 2-core machine 8 in flight was the measured sweet spot (see docs/zfs.md).
    /// </summary>
    public int Concurrency { get; init; } = 8;

    /// <summary>A command that takes longer than this is killed and its operation fails.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How often a destroy answered "dataset is busy" is tried again (zfs-fuse reports busy for a while after a
    /// mount), with a doubling pause from <see cref="BusyBackoff"/>.
    /// </summary>
    public int BusyRetries { get; init; } = 8;

    /// <summary>First pause before a busy destroy is tried again.</summary>
    public TimeSpan BusyBackoff { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Clones are made with <c>mountpoint=none</c> and mounted (<c>zfs inherit mountpoint</c>) at their first
    /// open or backing-path request: an unmounted clone is cheaper to make and to destroy (no "busy" retries).
    /// </summary>
    public bool LazyMountClones { get; init; } = true;

    /// <summary>
    /// Commands that mount or unmount a filesystem (create, clone without <c>mountpoint=none</c>, mount, inherit or set
    /// mountpoint, destroy of a dataset) run one at a time; the rest of a batch still runs <see cref="Concurrency"/>
    /// at once. zfs-fuse 0.7 deadlocks (every FUSE request then waits forever) when several mounting clones run
    /// side by side: reproduced here with 8 parallel <c>zfs clone</c> commands, in one of two runs of 300 clones.
    /// </summary>
    public bool SerialMounts { get; init; } = true;
}
