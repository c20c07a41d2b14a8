using System.Buffers.Binary;

namespace Cairn.Iscsi.Scsi;

/// <summary>SPC-4 §4.5.6 sense keys.</summary>
public static class SenseKey
{
    public const byte NoSense = 0x0;
    public const byte NotReady = 0x2;
    public const byte MediumError = 0x3;
    public const byte HardwareError = 0x4;
    public const byte IllegalRequest = 0x5;
    public const byte UnitAttention = 0x6;
    public const byte DataProtect = 0x7;
    public const byte CopyAborted = 0xA;
    public const byte AbortedCommand = 0xB;
    public const byte Miscompare = 0xE;
}

/// <summary>An additional sense code and qualifier (SPC-4 §4.5.6, table D.2) packed as 0xAAQQ.</summary>
public readonly record struct Asc(byte Code, byte Qualifier)
{
    public static readonly Asc NoAdditionalSense = new(0x00, 0x00);
    public static readonly Asc ParameterListLengthError = new(0x1A, 0x00);
    public static readonly Asc InvalidCommandOperationCode = new(0x20, 0x00);
    public static readonly Asc LbaOutOfRange = new(0x21, 0x00);
    public static readonly Asc InvalidFieldInCdb = new(0x24, 0x00);
    public static readonly Asc LogicalUnitNotSupported = new(0x25, 0x00);
    public static readonly Asc InvalidFieldInParameterList = new(0x26, 0x00);
    public static readonly Asc ParameterNotSupported = new(0x26, 0x01);
    public static readonly Asc WriteProtected = new(0x27, 0x00);
    public static readonly Asc SpaceAllocationFailedWriteProtect = new(0x27, 0x07);
    public static readonly Asc PowerOnResetOccurred = new(0x29, 0x00);
    public static readonly Asc PowerOnOccurred = new(0x29, 0x01);
    public static readonly Asc BusResetOccurred = new(0x29, 0x02);
    /// <summary>29/03 BUS DEVICE RESET FUNCTION OCCURRED (logical unit reset).</summary>
    public static readonly Asc LogicalUnitResetOccurred = new(0x29, 0x03);
    public static readonly Asc ItNexusLoss = new(0x29, 0x07);
    public static readonly Asc ModeParametersChanged = new(0x2A, 0x01);
    public static readonly Asc ReservationsPreempted = new(0x2A, 0x03);
    public static readonly Asc ReservationsReleased = new(0x2A, 0x04);
    public static readonly Asc RegistrationsPreempted = new(0x2A, 0x05);
    public static readonly Asc CapacityDataChanged = new(0x2A, 0x09);
    public static readonly Asc CommandsClearedByAnotherInitiator = new(0x2F, 0x00);
    public static readonly Asc SavingParametersNotSupported = new(0x39, 0x00);
    public static readonly Asc MediumNotPresent = new(0x3A, 0x00);
    public static readonly Asc MediumNotPresentTrayOpen = new(0x3A, 0x02);
    public static readonly Asc ReportedLunsDataChanged = new(0x3F, 0x0E);
    public static readonly Asc MediumRemovalPrevented = new(0x53, 0x02);
    public static readonly Asc MiscompareDuringVerify = new(0x1D, 0x00);
    public static readonly Asc NotReadySanitizeInProgress = new(0x04, 0x1B);
    public static readonly Asc UnrecoveredReadError = new(0x11, 0x00);
    public static readonly Asc WriteError = new(0x0C, 0x00);
    public static readonly Asc InternalTargetFailure = new(0x44, 0x00);
    public static readonly Asc InsufficientRegistrationResources = new(0x55, 0x04);
    public static readonly Asc NoDefectListAvailable = new(0x1C, 0x00);
    public static readonly Asc DefectListNotFound = new(0x1C, 0x01);
}

/// <summary>
/// Builds sense data: fixed format (SPC-4 §4.5.3) or descriptor format (SPC-4 §4.5.2) when the control mode
/// page's D_SENSE bit asks for it.
/// </summary>
public static class ScsiSense
{
    /// <summary>No sense-key-specific field pointer.</summary>
    public const int NoField = -1;

    /// <summary>
    /// Sense data. <paramref name="field"/> ≥ 0 adds a sense-key-specific field pointer (SPC-4 §4.5.2.4.2)
    /// with <paramref name="bit"/> (0–7) as bit pointer when ≥ 0; <paramref name="inCdb"/> sets C/D.
    /// <paramref name="information"/> ≥ 0 fills the INFORMATION field (e.g. a miscompare offset).
    /// </summary>
    public static byte[] Build(bool descriptor, byte key, Asc asc, int field = NoField, int bit = -1, bool inCdb = true, long information = -1)
    {
        Span<byte> sks = stackalloc byte[3];
        bool hasSks = field >= 0;
        if (hasSks)
        {
            sks[0] = (byte)(0x80 | (inCdb ? 0x40 : 0) | (bit is >= 0 and <= 7 ? 0x08 | bit : 0));
            BinaryPrimitives.WriteUInt16BigEndian(sks[1..], (ushort)Math.Min(field, 0xFFFF));
        }

        if (!descriptor)
        {
            var s = new byte[18];
            s[0] = (byte)(0x70 | (information >= 0 ? 0x80 : 0));
            s[2] = key;
            if (information >= 0) BinaryPrimitives.WriteUInt32BigEndian(s.AsSpan(3), (uint)information);
            s[7] = 10;
            s[12] = asc.Code;
            s[13] = asc.Qualifier;
            if (hasSks) sks.CopyTo(s.AsSpan(15));
            return s;
        }

        int len = 8 + (information >= 0 ? 12 : 0) + (hasSks ? 8 : 0);
        var d = new byte[len];
        d[0] = 0x72;
        d[1] = key;
        d[2] = asc.Code;
        d[3] = asc.Qualifier;
        d[7] = (byte)(len - 8);
        int p = 8;
        if (information >= 0)
        {
            // SPC-4 §4.5.2.2 Information sense data descriptor
            d[p] = 0x00;
            d[p + 1] = 0x0A;
            d[p + 2] = 0x80;
            BinaryPrimitives.WriteInt64BigEndian(d.AsSpan(p + 4), information);
            p += 12;
        }
        if (hasSks)
        {
            // SPC-4 §4.5.2.4 Sense key specific sense data descriptor
            d[p] = 0x02;
            d[p + 1] = 0x06;
            sks.CopyTo(d.AsSpan(p + 4));
        }
        return d;
    }

    /// <summary>Sense key of fixed- or descriptor-format sense data.</summary>
    public static byte KeyOf(ReadOnlySpan<byte> sense) =>
        sense.Length < 3 ? (byte)0 : (sense[0] & 0x7F) >= 0x72 ? (byte)(sense[1] & 0x0F) : (byte)(sense[2] & 0x0F);

    /// <summary>ASC/ASCQ of fixed- or descriptor-format sense data.</summary>
    public static Asc AscOf(ReadOnlySpan<byte> sense) =>
        sense.Length < 4 ? default
        : (sense[0] & 0x7F) >= 0x72 ? new Asc(sense[2], sense[3])
        : sense.Length >= 14 ? new Asc(sense[12], sense[13]) : default;
}
