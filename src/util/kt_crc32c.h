/* kt_crc32c.h - CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected),
 * the checksum of every ktape archive structure, as in Kafka's record batches.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it, else a portable
 * slicing-by-8 table. Both give identical results; tests check both.
 */
#ifndef KT_CRC32C_H
#define KT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: crc = kt_crc32c(0, a, n); crc = kt_crc32c(crc, b, m). */
uint32_t kt_crc32c(uint32_t crc, const void *data, size_t len);
/* The portable implementation, exposed so that tests compare the two. */
uint32_t kt_crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif
