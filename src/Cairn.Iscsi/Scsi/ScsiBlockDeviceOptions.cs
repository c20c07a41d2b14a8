namespace Cairn.Iscsi.Scsi;

/// <summary>How a <see cref="ScsiBlockDevice"/> presents itself.</summary>
public sealed class ScsiBlockDeviceOptions
{
    /// <summary>This unit's LUN (for REPORT LUNS when <see cref="ReportLuns"/> is not given).</summary>
    public ulong Lun { get; init; }

    /// <summary>The target's LUN numbers (0–16383) for REPORT LUNS; read at each REPORT LUNS.</summary>
    public Func<IReadOnlyList<ulong>>? ReportLuns { get; init; }

    /// <summary>
    /// Report removable medium (INQUIRY RMB): START STOP UNIT may eject and load, PREVENT ALLOW MEDIUM REMOVAL
    /// guards it. Off by default: volumes are fixed disks.
    /// </summary>
    public bool Removable { get; init; }

    /// <summary>
    /// Refuse every write (DATA PROTECT, WRITE PROTECTED) and report the medium write-protected (MODE SENSE WP), even
    /// when the device itself is writable: a volume exported read-only.
    /// </summary>
    public bool ReadOnly { get; init; }

    /// <summary>T10 vendor identification (8 ASCII characters at most).</summary>
    public string VendorId { get; init; } = "CAIRN";

    /// <summary>Product identification (16 ASCII characters at most).</summary>
    public string ProductId { get; init; } = "VOLUME";

    /// <summary>Product revision level (4 ASCII characters at most).</summary>
    public string Revision { get; init; } = "0001";

    /// <summary>Unit serial number (VPD 0x80); defaults to the device id in hex.</summary>
    public string? SerialNumber { get; init; }

    /// <summary>MAXIMUM TRANSFER LENGTH in logical blocks (VPD 0xB0); larger READ/WRITE commands are refused.</summary>
    public uint MaxTransferBlocks { get; init; } = 16384;

    /// <summary>MAXIMUM WRITE SAME LENGTH in logical blocks (VPD 0xB0).</summary>
    public uint MaxWriteSameBlocks { get; init; } = 32768;

    /// <summary>MAXIMUM UNMAP LBA COUNT (VPD 0xB0).</summary>
    public uint MaxUnmapBlocks { get; init; } = 1024 * 1024;

    /// <summary>MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT (VPD 0xB0).</summary>
    public uint MaxUnmapDescriptors { get; init; } = 256;

    /// <summary>
    /// LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (READ CAPACITY 16) and atomic-write alignment. 0 (the default)
    /// presents 512-byte physical blocks; null derives it from the device's allocation granularity (4 KiB → 3).
    /// The granularity is always reported as OPTIMAL UNMAP GRANULARITY either way. Default 0 because libiscsi 1.19's
    /// GetLBAStatus.UnmapSingle cannot pass with more than one logical block per physical block.
    /// </summary>
    public byte? PhysicalBlockExponent { get; init; } = 0;

    /// <summary>Relative target port identifier for VPD 0x83 (the transport's portal group tag is used when 0).</summary>
    public ushort RelativeTargetPort { get; init; } = 1;
}
