using System.Buffers.Binary;
using System.Collections.Concurrent;
using Cairn.Core.Storage;

namespace Cairn.Iscsi.Scsi;

/// <summary>
/// A SCSI direct-access block device (SPC-4 / SBC-3) over an <see cref="IBlockDevice"/>: 512-byte logical blocks,
/// thin-provisioned, with sense data, unit attentions and reservations kept per I_T nexus. Pure: no sockets, no iSCSI.
/// </summary>
/// <remarks>
/// Thread-safe. READ and WRITE take no lock and allocate nothing; they pay one volatile read for reservations and one
/// for unit attentions when none are pending. COMPARE AND WRITE and WRITE ATOMIC briefly exclude other writers.
/// </remarks>
public sealed partial class ScsiBlockDevice : IScsiLogicalUnit
{
    /// <summary>Logical block length in bytes.</summary>
    public const int BlockSize = 512;
    private const int BlockShift = 9;

    private readonly IBlockDevice _device;
    private readonly ScsiBlockDeviceOptions _options;
    private readonly ConcurrentDictionary<ScsiNexus, NexusState> _nexuses = new();
    private readonly Lock _nexusGate = new();
    private long _knownBlocks;
    private volatile bool _disposed;

    /// <summary>Creates the logical unit over <paramref name="device"/>.</summary>
    public ScsiBlockDevice(IBlockDevice device, ScsiBlockDeviceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = device;
        _options = options ?? new ScsiBlockDeviceOptions();
        _knownBlocks = device.Size >> BlockShift;
        // Physical block exponent: 2^n logical blocks per allocation unit, up to 4 KiB (SBC-3 §5.16.2).
        int g = Math.Clamp(device.Granularity, BlockSize, 4096);
        _physExponent = _options.PhysicalBlockExponent ?? (byte)(int.Log2(g) - BlockShift);
    }

    private readonly byte _physExponent;

    /// <summary>The block device underneath.</summary>
    public IBlockDevice Device => _device;

    /// <summary>Capacity in logical blocks.</summary>
    public long Blocks => _device.Size >> BlockShift;

    private bool WriteProtected => _device.ReadOnly || _options.ReadOnly || _swp;

    // ------------------------------------------------------------------------------------------------------------
    // Per-nexus state: unit attentions (SAM-5 §5.14), PREVENT ALLOW (SBC-3 §5.12).

    private sealed class NexusState
    {
        public readonly Lock Gate = new();
        public readonly List<Asc> Attentions = [];
        public volatile int AttentionCount;
        public bool Prevent;

        public void Add(Asc asc)
        {
            lock (Gate)
            {
                // A reset supersedes everything queued before it (SAM-5 §5.14: one UA per condition).
                if (asc.Code == 0x29) Attentions.Clear();
                if (!Attentions.Contains(asc)) Attentions.Add(asc);
                AttentionCount = Attentions.Count;
            }
        }

        public bool TryTake(out Asc asc)
        {
            lock (Gate)
            {
                if (Attentions.Count == 0) { asc = default; return false; }
                asc = Attentions[0];
                Attentions.RemoveAt(0);
                AttentionCount = Attentions.Count;
                return true;
            }
        }

        public void Clear(Asc asc)
        {
            if (AttentionCount == 0) return;
            lock (Gate)
            {
                Attentions.Remove(asc);
                AttentionCount = Attentions.Count;
            }
        }
    }

    private NexusState Nexus(in ScsiNexus nexus)
    {
        if (_nexuses.TryGetValue(nexus, out var s)) return s;
        lock (_nexusGate)
        {
            if (_nexuses.TryGetValue(nexus, out s)) return s;
            s = new NexusState();
            // SAM-5 §6.4: a new I_T nexus starts with POWER ON, RESET, OR BUS DEVICE RESET OCCURRED.
            s.Add(Asc.PowerOnResetOccurred);
            _nexuses[nexus] = s;
            return s;
        }
    }

    /// <summary>Queues a unit attention for every nexus except <paramref name="except"/> (when given).</summary>
    private void UnitAttentionAll(Asc asc, ScsiNexus? except = null)
    {
        foreach (var (n, s) in _nexuses)
            if (except is null || !n.Equals(except.Value)) s.Add(asc);
    }

    private void UnitAttention(in ScsiNexus nexus, Asc asc)
    {
        if (_nexuses.TryGetValue(nexus, out var s)) s.Add(asc);
    }

    private void CheckCapacity()
    {
        long blocks = _device.Size >> BlockShift;
        long known = Volatile.Read(ref _knownBlocks);
        if (blocks == known) return;
        if (Interlocked.CompareExchange(ref _knownBlocks, blocks, known) == known)
            // SBC-3 §4.10: CAPACITY DATA HAS CHANGED after the capacity changes.
            UnitAttentionAll(Asc.CapacityDataChanged);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Results.

    private bool DescriptorSense => _dSense;

    private ScsiResult Check(byte key, Asc asc, int field = ScsiSense.NoField, int bit = -1, bool inCdb = true, long information = -1) =>
        new(ScsiStatus.CheckCondition, 0, 0, ScsiSense.Build(DescriptorSense, key, asc, field, bit, inCdb, information));

    private ScsiResult InvalidField(int field, int bit = -1) => Check(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb, field, bit);

    private ScsiResult InvalidParameter(int field, int bit = -1) =>
        Check(SenseKey.IllegalRequest, Asc.InvalidFieldInParameterList, field, bit, inCdb: false);

    private ScsiResult ParameterListLengthError() => Check(SenseKey.IllegalRequest, Asc.ParameterListLengthError);

    private ScsiResult LbaOutOfRange() => Check(SenseKey.IllegalRequest, Asc.LbaOutOfRange);

    private ScsiResult WriteProtectedResult() => Check(SenseKey.DataProtect, Asc.WriteProtected);

    private ScsiResult InvalidOpcode() => Check(SenseKey.IllegalRequest, Asc.InvalidCommandOperationCode, 0);

    private static ScsiResult Conflict() => new(ScsiStatus.ReservationConflict, 0, 0, default);

    /// <summary>Copies <paramref name="produced"/> into data-in up to the allocation length; the rest is residual.</summary>
    private static ScsiResult DataIn(ReadOnlySpan<byte> produced, Span<byte> dataIn, long allocationLength)
    {
        int n = (int)Math.Min(Math.Min(produced.Length, allocationLength), dataIn.Length);
        produced[..n].CopyTo(dataIn);
        return ScsiResult.Good(n, Math.Min(produced.Length, allocationLength));
    }

    // ------------------------------------------------------------------------------------------------------------
    // IScsiLogicalUnit

    /// <inheritdoc />
    public long DataOutLength(ReadOnlySpan<byte> cdb)
    {
        if (cdb.Length < 6) return 0;
        if (cdb.Length < 16)
        {
            // Short CDB buffers read as zero-padded; Execute refuses them later.
            Span<byte> padded = stackalloc byte[16];
            cdb.CopyTo(padded);
            return DataOutLength(padded);
        }
        switch (cdb[0])
        {
            case ScsiOp.Write6:
                return (cdb[4] == 0 ? 256 : cdb[4]) * (long)BlockSize;
            case ScsiOp.Write10 or ScsiOp.WriteAndVerify10:
                return Be16(cdb, 7) * (long)BlockSize;
            case ScsiOp.Write12 or ScsiOp.WriteAndVerify12:
                return Be32(cdb, 6) * (long)BlockSize;
            case ScsiOp.Write16 or ScsiOp.WriteAndVerify16 or ScsiOp.OrWrite16:
                return Be32(cdb, 10) * (long)BlockSize;
            case ScsiOp.WriteAtomic16:
                return Be16(cdb, 12) * (long)BlockSize;
            case ScsiOp.Verify10:
                return (cdb[1] & 0x06) is 0x02 ? Be16(cdb, 7) * (long)BlockSize : (cdb[1] & 0x06) is 0x06 ? BlockSize : 0;
            case ScsiOp.Verify12:
                return (cdb[1] & 0x06) is 0x02 ? Be32(cdb, 6) * (long)BlockSize : (cdb[1] & 0x06) is 0x06 ? BlockSize : 0;
            case ScsiOp.Verify16:
                return (cdb[1] & 0x06) is 0x02 ? Be32(cdb, 10) * (long)BlockSize : (cdb[1] & 0x06) is 0x06 ? BlockSize : 0;
            case ScsiOp.CompareAndWrite:
                return cdb[13] * 2L * BlockSize;
            case ScsiOp.WriteSame10:
                return BlockSize;
            case ScsiOp.WriteSame16:
                return (cdb[1] & 0x01) != 0 ? 0 : BlockSize;
            case ScsiOp.ModeSelect6:
                return cdb[4];
            case ScsiOp.ModeSelect10 or ScsiOp.Unmap or ScsiOp.Sanitize:
                return Be16(cdb, 7);
            case ScsiOp.PersistentReserveOut:
                return Be32(cdb, 5);
            case ScsiOp.ExtendedCopy:
                return Be32(cdb, 10);
            default:
                return 0;
        }
    }

    /// <inheritdoc />
    public ScsiResult Execute(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, Span<byte> dataIn, in ScsiCommandInfo info)
    {
        if (cdb.Length < 6) return InvalidOpcode();
        if (_disposed) return Check(SenseKey.NotReady, new Asc(0x04, 0x00));
        byte op = cdb[0];

        // A capacity change is news only to the nexuses that existed before it (and read the old capacity); a nexus this
        // command creates learns the capacity afresh after its POWER ON unit attention. So: check first, then create.
        if (Volatile.Read(ref _knownBlocks) != _device.Size >> BlockShift) CheckCapacity();
        var nx = Nexus(info.Nexus);

        // SPC-4 §5.14 / SAM-5 §5.14: INQUIRY, REPORT LUNS and REQUEST SENSE never report a unit attention.
        if (nx.AttentionCount != 0 && op is not (ScsiOp.Inquiry or ScsiOp.ReportLuns or ScsiOp.RequestSense) && nx.TryTake(out var ua))
            return Check(SenseKey.UnitAttention, ua);

        var oi = OpTable.Find(op, OpTable.HasServiceAction(op) ? cdb[1] & 0x1F : -1);
        if (oi is null)
            return OpTable.Known(op) ? InvalidField(1, 4) : InvalidOpcode();
        if (cdb.Length < oi.CdbLength) return InvalidOpcode();

        if (_mediumEjected && NeedsMedium(op)) return Check(SenseKey.NotReady, Asc.MediumNotPresentTrayOpen);

        if (_reservationActive != 0 && ReservationConflicts(op, cdb, info.Nexus)) return Conflict();

        var (badByte, badBit) = oi.FirstReservedBit(cdb);
        if (badByte >= 0) return InvalidField(badByte, badBit);

        try
        {
            return Dispatch(op, cdb, dataOut, dataIn, info, nx);
        }
        catch (ArgumentOutOfRangeException) when (_device.Size >> BlockShift < Volatile.Read(ref _knownBlocks))
        {
            // The device shrank under the command: the range is no longer there. Other storage faults propagate
            // to the transport, which logs them and answers HARDWARE ERROR.
            return LbaOutOfRange();
        }
    }

    private ScsiResult Dispatch(byte op, ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, Span<byte> dataIn, in ScsiCommandInfo info, NexusState nx)
    {
        switch (op)
        {
            // SBC-3 §5.8–5.11 READ (6/10/12/16)
            case ScsiOp.Read6:
                return Read(ReadLba6(cdb), cdb[4] == 0 ? 256 : cdb[4], 0, dataIn, 4);
            case ScsiOp.Read10:
                return Read(Be32(cdb, 2), Be16(cdb, 7), cdb[1], dataIn, 7);
            case ScsiOp.Read12:
                return Read(Be32(cdb, 2), Be32(cdb, 6), cdb[1], dataIn, 6);
            case ScsiOp.Read16:
                return Read(Be64(cdb, 2), Be32(cdb, 10), cdb[1], dataIn, 10);

            // SBC-3 §5.32–5.35 WRITE (6/10/12/16)
            case ScsiOp.Write6:
                return Write(ReadLba6(cdb), cdb[4] == 0 ? 256 : cdb[4], 0, dataOut, 4);
            case ScsiOp.Write10:
                return Write(Be32(cdb, 2), Be16(cdb, 7), cdb[1], dataOut, 7);
            case ScsiOp.Write12:
                return Write(Be32(cdb, 2), Be32(cdb, 6), cdb[1], dataOut, 6);
            case ScsiOp.Write16:
                return Write(Be64(cdb, 2), Be32(cdb, 10), cdb[1], dataOut, 10);

            case ScsiOp.WriteAndVerify10:
                return WriteAndVerify(Be32(cdb, 2), Be16(cdb, 7), cdb[1], dataOut, 7);
            case ScsiOp.WriteAndVerify12:
                return WriteAndVerify(Be32(cdb, 2), Be32(cdb, 6), cdb[1], dataOut, 6);
            case ScsiOp.WriteAndVerify16:
                return WriteAndVerify(Be64(cdb, 2), Be32(cdb, 10), cdb[1], dataOut, 10);

            case ScsiOp.Verify10:
                return Verify(Be32(cdb, 2), Be16(cdb, 7), cdb[1], dataOut, 7);
            case ScsiOp.Verify12:
                return Verify(Be32(cdb, 2), Be32(cdb, 6), cdb[1], dataOut, 6);
            case ScsiOp.Verify16:
                return Verify(Be64(cdb, 2), Be32(cdb, 10), cdb[1], dataOut, 10);

            case ScsiOp.PreFetch10:
                return PreFetch(Be32(cdb, 2), Be16(cdb, 7));
            case ScsiOp.PreFetch16:
                return PreFetch(Be64(cdb, 2), Be32(cdb, 10));
            case ScsiOp.SynchronizeCache10:
                return SynchronizeCache(Be32(cdb, 2), Be16(cdb, 7));
            case ScsiOp.SynchronizeCache16:
                return SynchronizeCache(Be64(cdb, 2), Be32(cdb, 10));

            case ScsiOp.CompareAndWrite:
                return CompareAndWrite(cdb, dataOut, info.ExpectedDataTransferLength);
            case ScsiOp.ExtendedCopy:
                return ExtendedCopy(cdb, dataOut, info.Nexus);
            case ScsiOp.ReceiveCopyResults:
                return ReceiveCopyResults(cdb, dataIn, info.Nexus);
            case ScsiOp.OrWrite16:
                return OrWrite(Be64(cdb, 2), Be32(cdb, 10), cdb[1], dataOut, 10);
            case ScsiOp.WriteAtomic16:
                return WriteAtomic(cdb, dataOut);

            case ScsiOp.WriteSame10:
                return WriteSame(Be32(cdb, 2), Be16(cdb, 7), cdb[1], ndob: false, dataOut, info.ExpectedDataTransferLength, 7);
            case ScsiOp.WriteSame16:
                return WriteSame(Be64(cdb, 2), Be32(cdb, 10), cdb[1], ndob: (cdb[1] & 0x01) != 0, dataOut, info.ExpectedDataTransferLength, 10);
            case ScsiOp.Unmap:
                return Unmap(cdb, dataOut);
            case ScsiOp.Sanitize:
                return Sanitize(cdb);

            case ScsiOp.ServiceActionIn16:
                return (cdb[1] & 0x1F) == ScsiOp.SaReadCapacity16 ? ReadCapacity16(cdb, dataIn) : GetLbaStatus(cdb, dataIn);
            case ScsiOp.ReadCapacity10:
                return ReadCapacity10(cdb, dataIn);

            case ScsiOp.TestUnitReady:
                return ScsiResult.Good(0, 0);
            case ScsiOp.RequestSense:
                return RequestSense(cdb, dataIn, nx);
            case ScsiOp.Inquiry:
                return Inquiry(cdb, dataIn, info.Nexus);
            case ScsiOp.ReportLuns:
                return ReportLuns(cdb, dataIn, nx);
            case ScsiOp.MaintenanceIn:
                return (cdb[1] & 0x1F) == ScsiOp.SaReportSupportedOpcodes
                    ? ReportSupportedOpcodes(cdb, dataIn)
                    : ReportSupportedTmf(cdb, dataIn);

            case ScsiOp.ModeSense6:
            case ScsiOp.ModeSense10:
                return ModeSense(cdb, dataIn);
            case ScsiOp.ModeSelect6:
            case ScsiOp.ModeSelect10:
                return ModeSelect(cdb, dataOut, info.Nexus);

            case ScsiOp.StartStopUnit:
                return StartStopUnit(cdb);
            case ScsiOp.PreventAllowMediumRemoval:
                return PreventAllow(cdb, nx);
            case ScsiOp.ReadDefectData10:
            case ScsiOp.ReadDefectData12:
                return ReadDefectData(cdb, dataIn);

            case ScsiOp.Reserve6:
            case ScsiOp.Reserve10:
                return Reserve(info.Nexus);
            case ScsiOp.Release6:
            case ScsiOp.Release10:
                return Release(info.Nexus);
            case ScsiOp.PersistentReserveIn:
                return PersistentReserveIn(cdb, dataIn);
            case ScsiOp.PersistentReserveOut:
                return PersistentReserveOut(cdb, dataOut, info.Nexus);

            default:
                return InvalidOpcode();
        }
    }

    /// <inheritdoc />
    public void Reset(in ScsiNexus nexus, bool targetReset)
    {
        // SPC-4 §5.13.7 / SAM-5 §6.3: a LOGICAL UNIT RESET or target reset releases SPC-2 reservations and PREVENT
        // state but keeps persistent reservations; SAM-5 §5.14: every I_T nexus gets a reset unit attention
        // (libiscsi's MultipathIO.Reset checks each path).
        ClearLegacyReservation();
        foreach (var (_, s) in _nexuses) s.Prevent = false;
        _ = Nexus(nexus);
        UnitAttentionAll(targetReset ? Asc.BusResetOccurred : Asc.LogicalUnitResetOccurred);
    }

    /// <summary>
    /// Tells every I_T nexus that the target's LUN inventory changed (SPC-4 §6.33: REPORTED LUNS DATA HAS CHANGED);
    /// the next REPORT LUNS from a nexus clears it.
    /// </summary>
    public void LunInventoryChanged() => UnitAttentionAll(Asc.ReportedLunsDataChanged);

    /// <inheritdoc />
    public void NexusLost(in ScsiNexus nexus)
    {
        // SPC-4 §5.13.2: I_T nexus loss releases an SPC-2 reservation held through it; PREVENT ends with it.
        ReleaseLegacyIfHolder(nexus);
        _nexuses.TryRemove(nexus, out _);
        foreach (var key in _copyResults.Keys)
            if (key.Nexus.Equals(nexus)) _copyResults.TryRemove(key, out _);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _disposed = true;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers

    private static long ReadLba6(ReadOnlySpan<byte> cdb) => ((cdb[1] & 0x1F) << 16) | (cdb[2] << 8) | cdb[3];
    private static ushort Be16(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt16BigEndian(b[at..]);
    private static uint Be32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32BigEndian(b[at..]);
    private static long Be64(ReadOnlySpan<byte> b, int at) => (long)BinaryPrimitives.ReadUInt64BigEndian(b[at..]);

    /// <summary>True when <c>[lba, lba+blocks)</c> lies outside the medium (SBC-3 §4.5: LBA OUT OF RANGE).</summary>
    private bool OutOfRange(long lba, long blocks)
    {
        long cap = Blocks;
        return (ulong)lba > (ulong)cap || (ulong)blocks > (ulong)(cap - lba);
    }
}
