using Cairn.Core.Storage;

namespace Cairn.Engine.Zfs;

/// <summary>How a pool stores volumes.</summary>
internal enum VolumeMode
{
    /// <summary>A filesystem dataset holding one sparse image file (zfs-fuse: <c>zfs create -V</c> is not implemented).</summary>
    File,
    /// <summary>A zvol, reached as <c>/dev/zvol/NAME</c> (kernel ZFS; untested here).</summary>
    Zvol,
}

/// <summary>An attached zpool.</summary>
internal sealed class PoolState(string name, VolumeMode mode)
{
    public string Name { get; } = name;
    public VolumeMode Mode { get; } = mode;
    /// <summary>Bumped by every refresh, so a fetch that started before it does not overwrite newer state.</summary>
    public long Generation;
}

/// <summary>The size of a volume as open devices see it (a resize grows it under them).</summary>
internal sealed class SizeCell(long size)
{
    public long Value = size;
}

/// <summary>A filesystem or zvol as last read from ZFS (or as a successful command left it).</summary>
internal sealed class ZDataset(string name)
{
    public string Name { get; } = name;
    /// <summary>ZFS guid; 0 while the dataset was just made and its read-only figures are not fetched yet.</summary>
    public ulong Guid;
    public bool IsZvol;
    public long Used, Referenced, Creation;
    public string? Origin;
    /// <summary>The local value of cairn:managed (null when unset or inherited).</summary>
    public string? Mark;
    /// <summary>Local cairn:volsize, or a zvol's volsize; 0 for folders.</summary>
    public long VolSize;
    /// <summary>Effective mountpoint path, or null (none, legacy, or a zvol).</summary>
    public string? Mountpoint;
    /// <summary>mountpoint=none set locally: a lazily mounted clone.</summary>
    public bool MountNone;
    public bool Mounted;
    /// <summary>Caller properties (cairn.prop:*, local only).</summary>
    public Dictionary<string, string>? Props;
    public readonly List<ZSnapshot> Snapshots = [];
    public readonly SortedSet<string> Children = new(StringComparer.Ordinal);
    public SizeCell? Live;
    /// <summary>Environment.TickCount64 of the last write through an open device: the space figures are then re-read on Get.</summary>
    public long LastWrite = long.MinValue / 2;

    public bool Complete => Guid != 0;
    public bool IsPoolRoot => Name.IndexOf('/') < 0;
    /// <summary>Cairn's own local mark of a volume or folder. The mark names the dataset as it was created; a rename
    /// (or a promote, for snapshots) keeps it, so only the local source and the kind are checked, not the name.</summary>
    public bool Managed => Mark is { } m && (m.StartsWith(ZfsProps.VolumeMark(""), StringComparison.Ordinal) || m.StartsWith(ZfsProps.FolderMark(""), StringComparison.Ordinal));
    public bool IsVolume => IsZvol || (VolSize > 0 && !IsPoolRoot);
    public DatasetKind Kind => IsVolume ? DatasetKind.Volume : DatasetKind.Folder;
    public bool Hidden => IsHiddenName(Name);

    public static bool IsHiddenName(string name) =>
        name.AsSpan(name.LastIndexOf('/') + 1).StartsWith(ZfsProps.HiddenPrefix, StringComparison.Ordinal);

    public DatasetInfo ToInfo() => new(Name, ZfsProps.IdOf(Guid), Kind, IsVolume ? VolSize : 0, Origin, Used, Referenced,
        DateTimeOffset.FromUnixTimeSeconds(Creation), Props is { Count: > 0 } ? new Dictionary<string, string>(Props) : null, Managed);
}

/// <summary>A snapshot as last read from ZFS.</summary>
internal sealed class ZSnapshot(ZDataset dataset, string name)
{
    public ZDataset Dataset { get; } = dataset;
    public string Name { get; } = name;
    public string FullName => Dataset.Name + "@" + Name;
    public ulong Guid;
    public long Used, Referenced, Creation;
    public string? Mark;
    public long VolSize;

    public bool Complete => Guid != 0;
    /// <summary>Cairn's own local mark (which names the snapshot as it was taken: renames and promotes keep it).</summary>
    public bool Managed => Mark is { } m && m.StartsWith(ZfsProps.SnapshotMark(""), StringComparison.Ordinal);

    public SnapshotInfo ToInfo(IReadOnlyList<string> clones) => new(Dataset.Name, Name, ZfsProps.IdOf(Guid), VolSize, Used, Referenced,
        clones, DateTimeOffset.FromUnixTimeSeconds(Creation), Managed);
}
